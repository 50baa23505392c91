"""The authors' two older hyper-encoders (PyPI ``zip2zip`` 0.2.0 ``transformer`` and ``attention``).

They exist so that checkpoints of those types load and compute what they computed there; new
models should use :class:`~zip2zip_tokenizers.torch.encoders.TransformerHyperEncoder`. Both read
an entry as ``M`` base embeddings where the padding slots hold the *padding id's* embedding (not
zero), attend with a mask that hides padding keys and queries, and average over all ``M``
positions, padding included. ``transformer`` is a post-LayerNorm stack (attention, then a GELU
MLP), with a learnable position embedding only when its ``position_encoding`` is
``"learnable"``; ``attention`` is one attention layer that always has one. Neither projects, so
each is as wide as the model. Parameter names are theirs, so their encoder files load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AuthorsSelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(hidden, hidden, bias=False)
        self.k_proj = nn.Linear(hidden, hidden, bias=False)
        self.v_proj = nn.Linear(hidden, hidden, bias=False)
        self.o_proj = nn.Linear(hidden, hidden, bias=False)

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        n, m, hidden = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(n, m, self.heads, -1).transpose(1, 2).contiguous()

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attend.unsqueeze(1))
        result: torch.Tensor = self.o_proj(out.transpose(1, 2).contiguous().view(n, m, hidden))
        return result


class AuthorsMLP(nn.Module):
    def __init__(self, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden, intermediate, bias=False)
        self.fc2 = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(F.gelu(self.fc1(x)))
        return out


class AuthorsPostNormLayer(nn.Module):
    def __init__(self, hidden: int, intermediate: int, heads: int) -> None:
        super().__init__()
        self.mlp = AuthorsMLP(hidden, intermediate)
        self.attention = AuthorsSelfAttention(hidden, heads)
        self.post_attention_layernorm = nn.LayerNorm(hidden)
        self.post_mlp_layernorm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        x = self.post_attention_layernorm(x + self.attention(x, attend)).to(x.dtype)
        out: torch.Tensor = self.post_mlp_layernorm(x + self.mlp(x)).to(x.dtype)
        return out


def _padded_entries(
    subtokens: torch.Tensor, embeddings: torch.Tensor, pad_token_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The entries' base embeddings with the padding id's row in the padding slots, and the
    attention mask that hides padding (a slot holding the padding id counts as padding)."""
    ids = torch.where(subtokens >= 0, subtokens, torch.full_like(subtokens, pad_token_id))
    present = ids != pad_token_id
    return embeddings[ids], present.unsqueeze(-1) & present.unsqueeze(-2)


class AuthorsTransformerEncoder(nn.Module):
    """Their ``encoder_type: "transformer"``."""

    def __init__(
        self,
        hidden: int,
        layers: int,
        heads: int,
        intermediate: int,
        learnable_positions: bool,
        max_subtokens: int,
        pad_token_id: int,
    ) -> None:
        super().__init__()
        self.pad_token_id = pad_token_id
        self.pos_embed = nn.Embedding(max_subtokens, hidden) if learnable_positions else None
        self.layers = nn.ModuleList(
            AuthorsPostNormLayer(hidden, intermediate, heads) for _ in range(layers)
        )

    def forward(self, subtokens: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        x, attend = _padded_entries(subtokens, embeddings, self.pad_token_id)
        if self.pos_embed is not None:
            x = x + self.pos_embed(torch.arange(x.shape[1], device=x.device))
        for layer in self.layers:
            x = layer(x, attend)
        return x.mean(dim=1)


class AuthorsAttentionEncoder(nn.Module):
    """Their ``encoder_type: "attention"``: one attention layer over position-embedded entries."""

    def __init__(self, hidden: int, heads: int, max_subtokens: int, pad_token_id: int) -> None:
        super().__init__()
        self.pad_token_id = pad_token_id
        self.pos_embed = nn.Embedding(max_subtokens, hidden)
        self.attention = AuthorsSelfAttention(hidden, heads)

    def forward(self, subtokens: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        x, attend = _padded_entries(subtokens, embeddings, self.pad_token_id)
        x = x + self.pos_embed(torch.arange(x.shape[1], device=x.device))
        out: torch.Tensor = self.attention(x, attend)
        return out.mean(dim=1)
