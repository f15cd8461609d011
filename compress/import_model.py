"""``kind: import``: take the recipe's model as it is (an already fine-tuned teacher) as a variant."""

from __future__ import annotations

from typing import Literal

from slimkit.stage import RunContext, Stage, StageConfig, Variant


class ImportConfig(StageConfig):
    """Save and evaluate the recipe's ``model`` unchanged, e.g. a teacher fine-tuned elsewhere."""

    kind: Literal["import"] = "import"


class Import(Stage[ImportConfig]):
    def run(self, parent: Variant, ctx: RunContext) -> Variant:
        return Variant(name=self.config.variant_name, model=parent.model,
                       tokenizer=parent.tokenizer)
