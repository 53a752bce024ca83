#!/usr/bin/env python3
"""VoxCeleb1 dev/test and VoxCeleb2 dev -> Kaldi data dirs + Lhotse manifests; official trial lists -> Kaldi trials.

  python -m local.prepare_voxceleb --vox1-dev /corpora/voxceleb1/dev/wav --vox1-test /corpora/voxceleb1/test/wav \\
      --vox2-dev /corpora/voxceleb2/dev/aac --trials-dir /corpora/voxceleb1/lists data   # (after . ./path.sh)
  from local.prepare_voxceleb import prepare_voxceleb                                   # or as a library

Each audio dir holds ``idXXXXX/<video>/<NNNNN>.wav`` (or ``.m4a``, decoded on the fly
by an ``ffmpeg ... |`` wav.scp entry). Utterance ids are ``<spk>-<video>-<NNNNN>``,
speaker ids ``idXXXXX``. Writes ``<out>/voxceleb1_dev``, ``<out>/voxceleb1_test``,
``<out>/voxceleb1`` (dev + test, for the E and H lists) and ``<out>/voxceleb2_dev``
for the dirs given. Trial lists (label-first ``1 id10270/x6uYqmx31kE/00001.wav
id10300/...``) become ``trials_<name>`` (``enroll test target|nontarget``) in the
first of voxceleb1_test, voxceleb1 that holds all their utterances. With
``--trials-dir`` the official names are used: veri_test.txt (vox1_o), veri_test2.txt
(vox1_o_cleaned), list_test_all.txt (vox1_e), list_test_all2.txt (vox1_e_cleaned),
list_test_hard.txt (vox1_h), list_test_hard2.txt (vox1_h_cleaned).
"""
from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import Sequence

import numpy as np
from lhotse import CutSet, RecordingSet, SupervisionSet

from vib.cli import add_bool, make_parser, name_value_pairs, run
from vib.data.kaldi_dir import write_kaldi_data_dir
from vib.data.manifests import Manifests, build_manifests, write_manifests
from vib.errors import VibError
from vib.io.tables import atomic_output

log = logging.getLogger("prepare_voxceleb")

OFFICIAL_LISTS = {
    "veri_test.txt": "vox1_o", "veri_test2.txt": "vox1_o_cleaned",
    "list_test_all.txt": "vox1_e", "list_test_all2.txt": "vox1_e_cleaned",
    "list_test_hard.txt": "vox1_h", "list_test_hard2.txt": "vox1_h_cleaned",
}
FFMPEG = "ffmpeg -nostdin -v error -i {path} -f wav -ac 1 -ar 16000 -acodec pcm_s16le - |"


def utterance_id(relative: str) -> str:
    """``id10270/x6uYqmx31kE/00001.wav`` -> ``id10270-x6uYqmx31kE-00001``."""
    return relative.rsplit(".", 1)[0].replace("/", "-")


def scan_audio_tree(audio_dir: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """wav.scp and utt2spk for ``<audio_dir>/<spk>/<video>/<n>.{wav,m4a}``; m4a becomes an ffmpeg pipe."""
    root = Path(audio_dir)
    if not root.is_dir():
        raise VibError(f"VoxCeleb audio dir '{root}' does not exist")
    wav_scp, utt2spk = {}, {}
    for path in sorted(root.glob("*/*/*")):
        if path.suffix not in (".wav", ".m4a"):
            continue
        spk, video, _ = path.relative_to(root).parts
        utt = utterance_id(str(path.relative_to(root)))
        if utt in wav_scp:
            raise VibError(f"utterance id '{utt}' comes from two files: {wav_scp[utt]} and {path}")
        full = str(path.resolve())
        wav_scp[utt] = full if path.suffix == ".wav" else FFMPEG.format(path=shlex.quote(full))
        utt2spk[utt] = spk
    if not wav_scp:
        raise VibError(f"no <spk>/<video>/<n>.wav or .m4a files under '{root}'")
    return wav_scp, utt2spk


def convert_trials(list_file: str | Path, known: set[str] | None = None) -> list[str]:
    """Official label-first trial lines -> ``enroll test target|nontarget`` lines (file order).
    A malformed line, or an utterance not in ``known``, is an error naming file and line."""
    path = Path(list_file)
    if not path.is_file():
        raise VibError(f"trial list '{path}' does not exist")
    lines = path.read_text().splitlines()
    tokens = np.array(" ".join(lines).split(), dtype=object)
    if len(tokens) != 3 * sum(1 for line in lines if line.strip()) or len(tokens) == 0:
        for lineno, line in enumerate(lines, 1):
            if line.strip() and len(line.split()) != 3:
                raise VibError(f"{path}:{lineno}: expected '<0|1> <spk/video/n.wav> <spk/video/n.wav>', got '{line}'")
        raise VibError(f"trial list '{path}' is empty")
    table = tokens.reshape(-1, 3)
    numbered = [i + 1 for i, line in enumerate(lines) if line.strip()]
    bad_label = np.flatnonzero(~np.isin(table[:, 0], ["0", "1"]))
    if len(bad_label):
        row = bad_label[0]
        raise VibError(f"{path}:{numbered[row]}: label must be 0 or 1, got '{table[row, 0]}'")
    enroll = np.array([utterance_id(x) for x in table[:, 1]], dtype=object)
    test = np.array([utterance_id(x) for x in table[:, 2]], dtype=object)
    if known is not None:
        for column, ids in ((1, enroll), (2, test)):
            missing = np.flatnonzero(~np.isin(ids, list(known)))
            if len(missing):
                row = missing[0]
                raise VibError(f"{path}:{numbered[row]}: utterance '{table[row, column]}' is not in the prepared data")
    target = np.where(table[:, 0] == "1", "target", "nontarget")
    return [f"{e} {t} {lab}" for e, t, lab in zip(enroll, test, target)]


def _merge(parts: list[Manifests]) -> Manifests:
    return Manifests(RecordingSet.from_recordings(r for p in parts for r in p.recordings),
                     SupervisionSet.from_segments(s for p in parts for s in p.supervisions),
                     CutSet.from_cuts(c for p in parts for c in p.cuts), [x for p in parts for x in p.skipped])


def _write_split(out: Path, manifests: Manifests, wav_scp: dict[str, str]) -> None:
    utt2spk = {s.id: s.speaker for s in manifests.supervisions}
    write_kaldi_data_dir(out, {u: wav_scp[u] for u in utt2spk}, utt2spk)
    write_manifests(out, manifests)
    log.info("%s: %d utterances, %d speakers, %d skipped", out, len(utt2spk), len(set(utt2spk.values())),
             len(manifests.skipped))


def prepare_voxceleb(out_dir: str | Path, vox1_dev: str | Path | None = None, vox1_test: str | Path | None = None,
                     vox2_dev: str | Path | None = None, trials_dir: str | Path | None = None,
                     trials: dict[str, str | Path] | None = None, num_jobs: int = 8,
                     skip_bad: bool = False) -> dict[str, Manifests]:
    """Writes ``<out_dir>/{voxceleb1_dev,voxceleb1_test,voxceleb1,voxceleb2_dev}`` for the audio
    dirs given (see the module doc) and ``trials_<name>`` for the official lists found in
    ``trials_dir`` and for ``trials`` (name -> list file); returns the manifests per split."""
    out = Path(out_dir)
    lists = _trial_lists(trials_dir, trials or {})
    splits = {name: d for name, d in (("voxceleb1_dev", vox1_dev), ("voxceleb1_test", vox1_test),
                                      ("voxceleb2_dev", vox2_dev)) if d}
    if not splits:
        raise VibError("give at least one of --vox1-dev, --vox1-test, --vox2-dev")
    scanned = {name: scan_audio_tree(d) for name, d in splits.items()}  # fail early on a missing dir
    done: dict[str, Manifests] = {}
    for name, (wav_scp, utt2spk) in scanned.items():
        done[name] = build_manifests(wav_scp, utt2spk, None, num_jobs=num_jobs, skip_bad=skip_bad,
                                     where=f"{splits[name]} (VoxCeleb tree)")
        _write_split(out / name, done[name], wav_scp)
    if "voxceleb1_dev" in done and "voxceleb1_test" in done:
        both = {**scanned["voxceleb1_dev"][0], **scanned["voxceleb1_test"][0]}
        done["voxceleb1"] = _merge([done["voxceleb1_dev"], done["voxceleb1_test"]])
        _write_split(out / "voxceleb1", done["voxceleb1"], both)
    for name, list_file in lists.items():
        target = _trials_home(done, list_file)
        lines = convert_trials(list_file, {c.id for c in done[target].cuts})
        with atomic_output(str(out / target / f"trials_{name}")) as f:
            f.write("\n".join(lines) + "\n")
        log.info("%s: %d trials from %s", out / target / f"trials_{name}", len(lines), list_file)
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("prepare_voxceleb", __doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="where the data dirs go, e.g. data")
    parser.add_argument("--vox1-dev", help="VoxCeleb1 dev audio dir (idXXXXX/<video>/NNNNN.wav)")
    parser.add_argument("--vox1-test", help="VoxCeleb1 test audio dir")
    parser.add_argument("--vox2-dev", help="VoxCeleb2 dev audio dir (.m4a or .wav)")
    parser.add_argument("--trials-dir", help="dir with the official list files (veri_test2.txt, ...)")
    parser.add_argument("--trials", action="append", default=[], metavar="NAME=FILE",
                        help="convert one official list to trials_NAME (repeatable)")
    parser.add_argument("--nj", type=int, default=8, help="parallel audio probes")
    add_bool(parser, "--skip-bad", False, "skip bad audio (listed in <split>/skipped_utts) instead of stopping")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s prepare_voxceleb: %(message)s")
    pairs = name_value_pairs(args.trials, "--trials")
    prepare_voxceleb(args.out_dir, args.vox1_dev, args.vox1_test, args.vox2_dev, args.trials_dir, pairs, args.nj,
                     args.skip_bad)
    return 0


def _trial_lists(trials_dir: str | Path | None, pairs: dict[str, str | Path]) -> dict[str, Path]:
    lists: dict[str, Path] = {}
    if trials_dir:
        root = Path(trials_dir)
        if not root.is_dir():
            raise VibError(f"trials dir '{root}' does not exist")
        lists = {name: root / f for f, name in OFFICIAL_LISTS.items() if (root / f).is_file()}
        if not lists:
            raise VibError(f"trials dir '{root}' has none of the official lists {', '.join(OFFICIAL_LISTS)}")
    for name, file in pairs.items():
        if not Path(file).is_file():
            raise VibError(f"trial list '{file}' (for {name}) does not exist")
        lists[name] = Path(file)
    return lists


def _trials_home(done: dict[str, Manifests], list_file: Path) -> str:
    """The smallest VoxCeleb1 split holding every utterance of the list."""
    needed = {utterance_id(x) for line in list_file.read_text().split("\n") for x in line.split()[1:]}
    for name in ("voxceleb1_test", "voxceleb1"):
        if name in done and needed <= {c.id for c in done[name].cuts}:
            return name
    have = [n for n in ("voxceleb1_test", "voxceleb1") if n in done]
    if not have:
        raise VibError(f"trial list '{list_file}' needs VoxCeleb1: give --vox1-test (and --vox1-dev for E/H lists)")
    missing = sorted(needed - {c.id for c in done[have[-1]].cuts})[0]
    raise VibError(f"trial list '{list_file}': utterance '{missing}' is not in {', '.join(have)}")


if __name__ == "__main__":
    run(main)
