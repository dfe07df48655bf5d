"""The labelling page (``page``), its durable label store (``store``) and annotator
agreement (``agreement``). On top: nothing in the package imports it."""
