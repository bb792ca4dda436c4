"""Hugging Face: every path that touches `datasets`, `transformers` or `peft`.

`support` (lazy imports of the `hf` extra), `dataset_import` (`data hf-import`),
`export` (`export hf`: a native checkpoint as a `LlamaForCausalLM` folder), `adapter`
(Hugging Face models behind the native reply interface), `sft`, `sft_data` and
`sft_report` (`train hf-sft`); `peft_export` (a LoRA run as a PEFT adapter for the
exported base) and `model_card` (the export's README.md); `llama_import` and
`tokenizer_import` (`import hf`: a Llama folder as a native checkpoint); `gguf_export`
(`export gguf`, for llama.cpp). Importing this package imports none of those libraries;
each module calls `support.require` inside its functions.

Not for: the native pipeline, which never imports this package.
"""
