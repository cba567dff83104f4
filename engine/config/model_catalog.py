"""The catalog of local models `provider: local` can name (`rulectl model list`): each pinned to
its publisher's official GGUF file by size and SHA-256 (engine/ai/local_models.py downloads and
checks them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogModel:
    name: str
    file: str
    url: str
    size: int
    sha256: str
    licence: str
    about: str


# Official GGUF files of their publishers; size and hash as the publisher's LFS pointer states them.
CATALOG: dict[str, CatalogModel] = {
    model.name: model
    for model in (
        CatalogModel(
            "qwen2.5-coder-0.5b",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            "https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            "Apache-2.0",
            "Qwen2.5-Coder 0.5B Instruct, Q4_K_M: ~0.7 GB of memory, ~20 tokens/s on 2 free cores",
        ),
        CatalogModel(
            "qwen2.5-coder-1.5b",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            "Apache-2.0",
            "Qwen2.5-Coder 1.5B Instruct, Q4_K_M: ~1.9 GB of memory, better prose, ~13 tokens/s",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b"
