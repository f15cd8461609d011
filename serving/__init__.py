"""Serving: ``slimkit serve`` (a variant folder over HTTP with dynamic batching) and
``slimkit loadtest`` (real texts replayed against it). Above the benchmarks floor: a load test's
result joins the benchmark report format."""
