"""Paper-scale graphs of long sources: an 8 x graph of a 200-token source has 1,608 vertices, more
than the default 1,024-row position tables. Translation training sizes the tables from the
benchmark's max_length (cli.translation.sized_positions); decoding a longer source still fits."""

import pytest
import torch

from diffglat.cli.translation import sized_positions
from diffglat.data.dictionary import Dictionary
from diffglat.cli.families import build_criterion, build_model, generate

from helpers import tiny_dataset

TINY = dict(encoder_layers=1, decoder_layers=2, d_model=16, heads=2, ffn_dim=32, dropout=0.1, positions="learned")
FAMILIES = {"glat_dat": dict(upsample=8, glance_start=0.5, glance_end=0.1, glance_steps=10),
            "diffglat": dict(upsample=8, layers_per_transition=1, diffusion_warmup=0, glance_steps=10)}


def long_batch(d, source_tokens=200, target_tokens=30):
    g = torch.Generator().manual_seed(0)
    src = torch.cat([torch.randint(6, len(d), (1, source_tokens), generator=g), torch.tensor([[Dictionary.eos]])], 1)
    tgt = torch.randint(6, len(d), (1, target_tokens), generator=g)
    return {"src": src, "tgt": tgt, "tgt_eos": torch.cat([tgt, torch.tensor([[Dictionary.eos]])], 1),
            "tgt_lengths": torch.tensor([target_tokens])}


def test_the_default_tables_stay_when_every_graph_fits():
    assert "max_positions" not in sized_positions({**TINY, "upsample": 2}, max_length=100)
    assert sized_positions({**TINY, "upsample": 8}, max_length=250)["max_positions"] == 8 * 251


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_a_200_token_source_at_8x_trains_a_step_and_decodes(kind):
    torch.manual_seed(0)
    _, _, d = tiny_dataset(4)
    batch = long_batch(d)
    unsized = build_model(kind, {**TINY, **FAMILIES[kind]}, len(d), d.pad)  # before: a RuntimeError here
    assert unsized.decoder_lengths(batch["src"]).item() == 1024  # the default table cuts the graph
    config = sized_positions({**TINY, **FAMILIES[kind]}, max_length=250)
    model = build_model(kind, config, len(d), d.pad)
    criterion = build_criterion(kind, model, {"label_smoothing": 0.0})
    output = model.forward_batch(batch, criterion.layers, 0)
    assert output.logits.shape[1] == 8 * 201
    loss, stats = criterion(output, batch)
    assert torch.isfinite(loss) and stats["infeasible"] == 0
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.eval()
    with torch.no_grad():
        for algorithm in ("joint_viterbi", "lookahead"):
            tokens = generate(kind, model, batch["src"], {"algorithm": algorithm, "beta": 1.0})
            assert tokens.shape[0] == 1 and tokens.shape[1] <= 8 * 201
        longer = torch.cat([batch["src"][:, :-1], batch["src"]], 1)  # 400 tokens: the graph is cut at the table's size
        assert model.decoder_lengths(longer).item() == config["max_positions"]
        generate(kind, model, longer, {"algorithm": "lookahead", "beta": 1.0})
