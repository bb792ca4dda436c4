"""Dataset stage: sources -> documents -> corpus; chat, eval and preference file readers.

`picochat.data.corpus.build_corpus(config, write)` is the stage function behind
`picochat data preview/build`; `load_dataset_pack(path)` resolves a dataset pack for
any stage that takes `--dataset-pack`.
"""

from picochat.data.pack import DatasetPack, load_dataset_pack

__all__ = ["DatasetPack", "load_dataset_pack"]
