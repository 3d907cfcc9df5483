"""Image captioning (Table 5, MS-COCO): the Karpathy split and feature readers, prepared image
features, the feature encoder, and the whole path -- prepare, train, decode, pycocoevalcap against
every caption -- on a small generated feature set whose features determine their captions; without
MS-COCO the run leaves captioning out and says why."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from diffglat import cli
from diffglat.cli.families import build_model, model_args_schemas
from diffglat.cli.translation import result_dir, translate_evaluate, translate_train
from diffglat.config import ConfigError, deep_merge, load_config, resolve
from diffglat.data.batching import length_filter
from diffglat.data.benchmarks import resolve_benchmark, selected_benchmarks, study_benchmarks, unavailable
from diffglat.data.images import FeatureStore, read_karpathy
from diffglat.data.indexed import load_split
from diffglat.io import read_json
from diffglat.report.outputs import packaged_yaml
from diffglat.report.paraphrase import table5_cells, table5_tex
from diffglat.training.plan import cost_plan

REPO = Path(__file__).resolve().parents[1]
OBJECTS = ["dog", "cat", "horse", "bird", "boat", "train"]
COLOURS = ["red", "blue", "green"]
WIDTH = 12  # feature width: one-hot object (6) + one-hot colour (3) + 3 noise dimensions


# ---- a generated captioning set whose features determine the captions ----------------------------
def image_features(obj: int, colour: int, rng, regions: int) -> np.ndarray:
    """[regions, WIDTH]: the object's and the colour's regions, then noise regions (never all zero)."""
    features = rng.uniform(0.05, 0.15, (regions, WIDTH)).astype(np.float32)
    features[0, obj] += 1.0
    features[1, len(OBJECTS) + colour] += 1.0
    return features


def captions(obj: int, colour: int) -> list[str]:
    # at least four words once the COCO tokenizer drops punctuation, so that BLEU-4 has 4-grams
    return [f"A {COLOURS[colour]} {OBJECTS[obj]} on the grass.", f"The {OBJECTS[obj]} on the grass is {COLOURS[colour]}."]


def write_caption_set(root: Path, per_concept: int = 6, zero_region_every: int = 4) -> dict:
    """root/dataset_coco.json and root/features/<id>.npy (every `zero_region_every`th image gets an
    extra all-zero region); train: per_concept images of each (object, colour), val and test: one."""
    rng = np.random.default_rng(0)
    (root / "features").mkdir(parents=True)
    images, image_id = [], 100
    for split, count in (("train", per_concept), ("val", 1), ("test", 1)):
        for obj in range(len(OBJECTS)):
            for colour in range(len(COLOURS)):
                for _ in range(count):
                    features = image_features(obj, colour, rng, regions=int(rng.integers(5, 8)))
                    if image_id % zero_region_every == 0:
                        features = np.concatenate([features, np.zeros((1, WIDTH), np.float32)])
                    np.save(root / "features" / f"{image_id}.npy", features)
                    images.append({"cocoid": image_id, "split": split, "filename": f"{image_id}.jpg",
                                   "sentences": [{"raw": c} for c in captions(obj, colour)]})
                    image_id += 1
    (root / "dataset_coco.json").write_text(json.dumps({"images": images, "dataset": "coco"}))
    return {"images": images}


TINY = {"encoder_layers": 1, "decoder_layers": 2, "d_model": 32, "heads": 2, "ffn_dim": 64, "dropout": 0.0,
        "positions": "learned"}


def captioning_config(tmp_path: Path, root: Path, experiments: dict, metrics=("bleu4", "meteor", "rouge_l", "cider")) -> dict:
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    override = {
        "paths": {"data": str(tmp_path / "data"), "results": str(tmp_path / "results"),
                  "reports": str(tmp_path / "reports"), "corpora": str(root)},
        "compute": {"precision": "float32"},
        "benchmarks": {"tiny_coco": {"source": "image", "target": "en",
                                     "images": {"captions": "{corpora}/dataset_coco.json", "features": "{corpora}/features"},
                                     "train": ["train"], "valid": ["val"], "test": {"tiny_test": ["test"]},
                                     "vocab_size": 300, "max_length": 20}},
        "captioning": {"benchmarks": ["tiny_coco"], "sizes": {"base": TINY}, "coco_metrics": list(metrics),
                       "train": {"max_steps": 300, "max_tokens": 400, "lr": 3.0e-3, "warmup_steps": 20,
                                 "checkpoint_every": 100, "log_every": 50},
                       "validate": {"every": 100, "sentences": 18, "keep_best": 1, "plateau": None},
                       "decode": {"beam": 2, "max_len_a": 0, "max_len_b": 30, "batch_size": 8},
                       "experiments": experiments},
    }
    return resolve(deep_merge(base, override), [], model_args_schemas())


def prepared(tmp_path, experiments=None):
    root = tmp_path / "coco"
    write_caption_set(root)
    config = captioning_config(tmp_path, root, experiments or {"ar": {"model": "ar", "size": "base", "label": "T"}})
    cli.prepare(config, "tiny_coco", 1)
    return config, root


# ---- readers ----------------------------------------------------------------------------------
def test_karpathy_split_reader_and_its_errors(tmp_path):
    root = tmp_path / "coco"
    write_caption_set(root, per_concept=1)
    splits = read_karpathy(root / "dataset_coco.json")
    assert {s: len(v) for s, v in splits.items()} == {"train": 18, "val": 18, "test": 18}
    assert splits["val"][0] == (118, ["A red dog on the grass.", "The dog on the grass is red."])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [{"cocoid": 1, "split": "train", "sentences": [{"tokens": []}]}]}))
    with pytest.raises(ValueError, match=r"bad.json: images\[0\] \(image 1\): 'sentences'"):
        read_karpathy(bad)
    bad.write_text("{")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        read_karpathy(bad)


def test_feature_store_reads_folders_archives_and_grids(tmp_path):
    features = np.arange(24, dtype=np.float32).reshape(4, 6)
    (tmp_path / "npy").mkdir()
    np.save(tmp_path / "npy" / "7.npy", features)
    (tmp_path / "npz").mkdir()
    np.savez(tmp_path / "npz" / "7.npz", feat=features, boxes=np.zeros((4, 4)))
    np.savez(tmp_path / "all.npz", **{"7": features.reshape(2, 2, 6)})  # a 2 x 2 grid
    for path in (tmp_path / "npy", tmp_path / "npz", tmp_path / "all.npz"):
        with FeatureStore(path) as store:
            np.testing.assert_array_equal(store(7), features)
            with pytest.raises(ValueError, match="no features of image 8"):
                store(8)
    np.savez(tmp_path / "npz" / "9.npz", a=features, b=features)
    with FeatureStore(tmp_path / "npz") as store, pytest.raises(ValueError, match="9.npz: holds"):
        store(9)
    (tmp_path / "npy" / "10.npy").write_bytes(b"\x93NUMPY truncated")
    with FeatureStore(tmp_path / "npy") as store, pytest.raises(ValueError, match="10.npy: cannot be read"):
        store(10)
    with pytest.raises(ValueError, match="a folder of <id>.npy"):
        FeatureStore(tmp_path / "features.txt")
    (tmp_path / "damaged.npz").write_bytes(b"PK\x03\x04 not a zip archive")
    with pytest.raises(ValueError, match="damaged.npz: cannot be read"):
        FeatureStore(tmp_path / "damaged.npz")
    np.save(tmp_path / "npy" / "11.npy", np.full((2, 6), 1e6, np.float32))  # beyond float16
    with FeatureStore(tmp_path / "npy") as store, pytest.raises(ValueError, match="11.npy: holds NaN, infinite"):
        store(11)


def test_feature_store_reads_hdf5_as_the_meshed_memory_transformer_stores_it(tmp_path):
    h5py = pytest.importorskip("h5py")
    features = np.ones((3, 5), np.float32)
    with h5py.File(tmp_path / "coco_detections.hdf5", "w") as f:
        f["7_features"] = features
    with FeatureStore(tmp_path / "coco_detections.hdf5") as store:
        np.testing.assert_array_equal(store(7), features)


# ---- prepare ----------------------------------------------------------------------------------
def test_prepare_writes_every_caption_of_a_train_image_and_one_pair_per_held_out_image(tmp_path):
    config, root = prepared(tmp_path)
    folder = Path(config["paths"]["data"]) / "prepared" / "tiny_coco"
    stats = read_json(folder / "stats.json")
    written = read_karpathy(root / "dataset_coco.json")
    zeros = {split: sum(i % 4 == 0 for i, _ in written[split]) for split in ("train", "val", "test")}
    train = stats["splits"]["train"]
    assert (train["images"], train["pairs_read"], train["pairs"]) == (108, 216, 216)
    assert train["zero_regions"] == zeros["train"]
    assert (stats["splits"]["tiny_test"]["images"], stats["splits"]["tiny_test"]["pairs"]) == (18, 18)
    assert stats["vocabulary"]["kind"] == "target-side SentencePiece BPE"
    # pair i of train is caption i % 2 of image i // 2: its features are the image's, the zero row dropped
    dataset = load_split(folder, "train", "image", "en")
    for i in (0, 7, 215):
        image_id = written["train"][i // 2][0]
        raw = np.load(root / "features" / f"{image_id}.npy")
        np.testing.assert_allclose(dataset.source[i], raw[~(raw == 0).all(1)], atol=1e-3)  # float16
    refs = read_json(folder / "tiny_test.refs.json")
    assert refs["image_ids"] == [i for i, _ in written["test"]]
    assert refs["references"][0] == ["a red dog on the grass.", "the dog on the grass is red."]  # lowercased, as COCO scores
    batch = dataset.collate([0, 1, 2])
    assert batch["src"].dtype == torch.float32 and batch["src"].shape[2] == WIDTH


def test_a_train_image_also_held_out_is_dropped_from_train(tmp_path):
    root = tmp_path / "coco"
    write_caption_set(root, per_concept=1)
    config = captioning_config(tmp_path, root, {"ar": {"model": "ar", "size": "base", "label": "T"}})
    config["benchmarks"]["tiny_coco"]["train"] = ["train", "test"]  # the test images listed for train too
    cli.prepare(config, "tiny_coco", 1)
    stats = read_json(Path(config["paths"]["data"]) / "prepared" / "tiny_coco" / "stats.json")
    assert stats["splits"]["train"]["dropped_overlap"] == 36  # 18 test images x 2 captions
    assert stats["splits"]["train"]["images"] == 18
    assert stats["train_overlap"]["tiny_test"] == {"image": 18, "en": 0}


def test_missing_or_mismatched_features_name_the_image_and_split(tmp_path):
    root = tmp_path / "coco"
    write_caption_set(root, per_concept=1)
    config = captioning_config(tmp_path, root, {"ar": {"model": "ar", "size": "base", "label": "T"}})
    last_test_image = 153
    np.save(root / "features" / f"{last_test_image}.npy", np.ones((5, WIDTH + 1), np.float32))
    with pytest.raises(ValueError, match=f"image {last_test_image} has {WIDTH + 1} features per region, the images "
                                         f"before it {WIDTH}"):
        cli.prepare(config, "tiny_coco", 1)
    (root / "features" / f"{last_test_image}.npy").unlink()
    with pytest.raises(ValueError, match=rf"no features of image {last_test_image} .*\(benchmark tiny_coco, split tiny_test\)"):
        cli.prepare(config, "tiny_coco", 1)
    assert not (Path(config["paths"]["data"]) / "prepared" / "tiny_coco").exists()  # nothing half-written


def test_a_missing_karpathy_split_name_is_named(tmp_path):
    root = tmp_path / "coco"
    write_caption_set(root, per_concept=1)
    config = captioning_config(tmp_path, root, {"ar": {"model": "ar", "size": "base", "label": "T"}})
    config["benchmarks"]["tiny_coco"]["train"] = ["train", "restval"]
    with pytest.raises(ValueError, match=r"dataset_coco.json: no image is in Karpathy split 'restval'"):
        cli.prepare(config, "tiny_coco", 1)


def test_an_image_source_is_filtered_on_its_target_and_graph_only():
    regions, caption = np.array([36, 36, 3, 10]), np.array([10, 70, 10, 4])
    keep, counts = length_filter(regions, caption, 64, 3.0, {"upsample": 2, "ratio": 2, "max_source_length": None,
                                                             "max_target_length": None}, image_source=True)
    # 36 regions vs 10 tokens would fail both ratio rules for text; a 70-token caption is too long;
    # 3 regions x 2 = 6 vertices cannot hold BOS + 10 tokens + EOS
    assert keep.tolist() == [True, False, False, True]
    assert (counts["bad_ratio"], counts["dag_ratio"], counts["too_long"], counts["graph_too_short"]) == (0, 0, 1, 1)


# ---- the feature encoder -------------------------------------------------------------------------
def test_zero_padded_regions_change_nothing_the_model_computes():
    torch.manual_seed(0)
    model = build_model("diffglat", {**TINY, "upsample": 2, "glance_steps": 10, "diffusion_warmup": 0,
                                     "layers_per_transition": 1, "source_features": WIDTH}, 50, 0).eval()
    image = torch.rand(1, 4, WIDTH) + 0.1
    padded = torch.cat([image, torch.zeros(1, 3, WIDTH)], dim=1)
    lengths = model.decoder_lengths(image)
    assert lengths.tolist() == [8] and model.decoder_lengths(padded).tolist() == [8]  # upsample x regions, no EOS
    alone, with_padding = model(image, lengths), model(padded, lengths)
    torch.testing.assert_close(alone.logits, with_padding.logits)
    torch.testing.assert_close(alone.links, with_padding.links)


def test_a_nat_copies_every_region_and_no_eos():
    model = build_model("nat", {**TINY, "source_features": WIDTH}, 30, 0).eval()
    src = torch.rand(1, 6, WIDTH) + 0.1
    src[0, 4:] = 0  # 4 regions, 2 of padding
    memory, memory_pad = model.encode(src)
    x, pad = model.decoder_input(src, memory_pad, torch.tensor([4]))
    torch.testing.assert_close(x[0], model.embed_source(src)[0, :4])  # regions 0, 1, 2, 3: the last one too
    assert not pad.any()


FAMILY_ARGS = {"ar": {}, "nat": {"max_length_offset": 4}, "ctc": {"upsample": 2}, "dat": {"upsample": 2},
               "glat": {"max_length_offset": 4, "glance_start": 0.5, "glance_end": 0.1, "glance_steps": 10},
               "glat_ctc": {"upsample": 2, "glance_start": 0.5, "glance_end": 0.1, "glance_steps": 10},
               "glat_dat": {"upsample": 2, "glance_start": 0.5, "glance_end": 0.1, "glance_steps": 10},
               "diffglat": {"upsample": 2, "glance_steps": 10, "diffusion_warmup": 0, "layers_per_transition": 1},
               "diffglat_ctc": {"upsample": 2, "glance_steps": 10, "diffusion_warmup": 0, "layers_per_transition": 1},
               "diffglat_glat": {"max_length_offset": 4, "glance_steps": 10, "diffusion_warmup": 0,
                                 "layers_per_transition": 1}}


def test_every_family_trains_on_and_decodes_image_features(tmp_path):
    from diffglat.cli.families import FAMILIES, build_criterion, generate
    assert set(FAMILY_ARGS) == set(FAMILIES)
    config, _ = prepared(tmp_path)
    dataset = load_split(Path(config["paths"]["data"]) / "prepared" / "tiny_coco", "train", "image", "en")
    batch = dataset.collate(list(range(0, 40, 5)))
    settings = {"beam": 2, "length_penalty": 1.0, "max_len_a": 0, "max_len_b": 6, "algorithm": "joint_viterbi",
                "beta": 1.0, "length_beam": 2, "iterations": 0}
    for kind, extra in FAMILY_ARGS.items():
        torch.manual_seed(0)
        model = build_model(kind, {**TINY, **extra, "source_features": WIDTH}, len(dataset.dictionary), 0)
        criterion = build_criterion(kind, model, {"label_smoothing": 0.1, "length_loss_weight": 0.1})
        loss, _ = criterion(model.forward_batch(batch, criterion.layers, 20), batch)
        loss.backward()
        projection = model.feature_projection[0].weight.grad
        assert torch.isfinite(loss) and projection is not None and projection.abs().sum() > 0, kind
        hypotheses = generate(kind, model.eval(), batch["src"], settings)
        assert hypotheses.shape[0] == len(batch["src"]) and hypotheses.dtype == torch.long, kind


def test_image_training_and_evaluation_without_the_coco_tools(tmp_path):
    """The path that needs no Java: train, average, decode and sacreBLEU-score against every caption."""
    root = tmp_path / "coco"
    write_caption_set(root, per_concept=2)
    config = captioning_config(tmp_path, root, {"ar": {"model": "ar", "size": "base", "label": "T",
                                                       "train": {"max_steps": 60}}}, metrics=())
    cli.prepare(config, "tiny_coco", 1)
    translate_train(config, "tiny_coco", "ar")
    translate_evaluate(config, "tiny_coco", "ar", "main")
    scores = read_json(result_dir(config, "tiny_coco", "ar") / "tiny_test.main.scores.json")
    assert "coco" not in scores and scores["references_per_item"] == 2 and scores["sentences"] == 18
    assert "nrefs:2" in scores["bleu_signature"]


# ---- end to end ----------------------------------------------------------------------------------
def concept_of(caption: str) -> tuple[set, set]:
    """The object and colour words a caption names."""
    words = set(caption.replace(".", " ").split())
    return words & set(OBJECTS), words & set(COLOURS)


@pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap's tokenizer and METEOR need Java")
def test_models_trained_on_generated_features_decode_their_captions(tmp_path):
    """The Transformer learns the captions exactly; DiffGLAT (a DAG over 4 x regions vertices), in
    600 steps, names every image's object and no wrong colour, though it may still mix the two
    caption forms (the multimodality a longer run resolves)."""
    experiments = {"ar": {"model": "ar", "size": "base", "label": "Transformer"},
                   "diffglat": {"model": "diffglat", "size": "base", "label": "DiffGLAT", "train": {"max_steps": 600},
                                "model_args": {"upsample": 4, "layers_per_transition": 1, "diffusion_warmup": 100,
                                               "glance_steps": 300}}}
    config, root = prepared(tmp_path, experiments)
    written = dict(read_karpathy(root / "dataset_coco.json")["test"])
    image_ids = read_json(Path(config["paths"]["data"]) / "prepared" / "tiny_coco" / "tiny_test.refs.json")["image_ids"]
    references = [[c.lower() for c in written[i]] for i in image_ids]
    for experiment in experiments:
        translate_train(config, "tiny_coco", experiment)
        translate_evaluate(config, "tiny_coco", experiment, "main")
        out = result_dir(config, "tiny_coco", experiment)
        scores = read_json(out / "tiny_test.main.scores.json")
        hypotheses = (out / "tiny_test.main.hyp").read_text().splitlines()
        assert len(hypotheses) == 18 and scores["copy_source"] is None and scores["references_per_item"] == 2
        assert set(scores["coco"]) == {"bleu4", "meteor", "rouge_l", "cider"}
        right = [concept_of(h)[0] == concept_of(refs[0])[0] and concept_of(h)[1] <= concept_of(refs[0])[1]
                 for h, refs in zip(hypotheses, references)]
        exact = sum(h in refs for h, refs in zip(hypotheses, references))
        if experiment == "ar":
            assert exact >= 17 and scores["coco"]["bleu4"] > 90, (hypotheses, scores["coco"])
        else:
            assert sum(right) >= 16 and scores["coco"]["bleu4"] > 60, (hypotheses, scores["coco"])
        trained = torch.load(out / "model.pt", weights_only=False)
        assert trained["model_config"]["source_features"] == WIDTH


# ---- offline: MS-COCO is left out, and says why ---------------------------------------------------
def test_without_ms_coco_the_run_leaves_captioning_out_and_names_the_key(tmp_path):
    config = load_config([REPO / "config" / "config.yaml"])
    assert config["captioning"]["benchmarks"] == ["mscoco"]
    reason = unavailable(config, "mscoco")
    assert reason == "MS-COCO features not found at benchmarks.mscoco.images.features (corpora/mscoco/features)"
    assert "mscoco" not in selected_benchmarks(config) and study_benchmarks(config, "captioning") == []
    with pytest.raises(ConfigError, match=r"MS-COCO features not found at benchmarks.mscoco.images.features \(corpora/mscoco/features\); put there"):
        resolve_benchmark(config, "mscoco")
    plan = cost_plan(config, left_out={"mscoco": reason})
    assert "captioning" not in [item["study"] for item in plan["items"]] and plan["left_out"] == {"mscoco": reason}
    paper = packaged_yaml("paper_numbers.yaml")["table5"]
    tex = table5_tex(paper, {}, config, "Caption.", {"mscoco": reason})
    assert f"mscoco, ours: not run: {reason}." in tex.replace("\\_", "_")
    assert r"Transformer & 34.0 & \textit{not run} & 28.1 & \textit{not run}" in tex
    cells = {(c.row, c.column): c for c in table5_cells(paper, {}, config)}
    assert (cells["DiffGLAT", "mscoco CIDEr"].paper, cells["DiffGLAT", "mscoco CIDEr"].reproduced) == ("112.5", "")


def test_table5_puts_our_captioning_scores_beside_the_papers():
    config = load_config([REPO / "config" / "config.yaml"])
    paper = packaged_yaml("paper_numbers.yaml")["table5"]
    scores = {("mscoco", "dat", "main"): {"bleu": 30.0, "copy_source": None,
                                          "coco": {"bleu4": 31.25, "meteor": 25.0, "rouge_l": 54.0, "cider": 101.0}}}
    tex = table5_tex(paper, scores, config, "Caption.", {})
    assert "DAT & 33.5 & 31.2 & 27.0 & 25.0 & 56.5 & 54.0 & 106.5 & 101.0 & 30.00" in tex
    assert "not run:" not in tex
    cells = {(c.row, c.column): c for c in table5_cells(paper, scores, config)}
    assert cells["DAT", "mscoco METEOR"].reproduced == "25.0"


def test_captioning_rejects_a_length_predicted_from_the_source_length(tmp_path):
    override = tmp_path / "o.yaml"
    override.write_text(yaml.safe_dump({"captioning": {"experiments": {"glat": {
        "model": "glat", "size": "base", "label": "GLAT",
        "model_args": {"max_length_offset": 20, "glance_start": 0.5, "glance_end": 0.3, "glance_steps": 100}}}}}))
    with pytest.raises(ConfigError, match="captioning.experiments.glat.model_args.max_length_offset: a length predicted"):
        load_config([REPO / "config" / "config.yaml", override], model_args_schemas())


def test_a_captioning_benchmark_must_be_in_the_captioning_study(tmp_path):
    override = tmp_path / "o.yaml"
    override.write_text(yaml.safe_dump({"paraphrase": {"benchmarks": ["mscoco"]}, "captioning": {"benchmarks": []}}))
    with pytest.raises(ConfigError, match=r"paraphrase.benchmarks\[0\]: 'mscoco' is image captioning"):
        load_config([REPO / "config" / "config.yaml", override], model_args_schemas())
