"""The inference backends, one file each, found through ``backends.registry`` (and nowhere else):
how each opens a runtime, which devices and variants it runs, its precision label, its
quantization modes and its profiler hook. Heavy libraries are imported inside their own file's
functions only."""
