"""local.real_speech: Debian packages fetched and unpacked (stubbed apt-get / dpkg-deb), The
Ur-Quan Masters' conversation and page-time files, Tux Paint's descriptions and narrators, and
the set written from fake packages of both."""
from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from local.real_speech.packages import fetch_package, unpack_package
from local.real_speech.prepare import choose_segments, main, prepare_real_speech
from local.real_speech.source import Segment, speaker_id
from local.real_speech.tuxpaint import NARRATORS, STAMPS, parse_descriptions, tuxpaint_segments
from local.real_speech.uqm import ACTORS, CONTENT_ZIP, VOICE_ZIP, parse_conversation, parse_timestamps, uqm_segments
from vib.errors import VibError

CONV = "#(HELLO_1)\tsyreen-000.ogg\nFirst page.\nSecond page.\n\n#(NO_CLIP)\nnothing\n#(BYE)\tsyreen-001.ogg\nBye.\n"
TIMES = "#(HELLO_1) 2000,3000\n#(BYE) \n#(NO_CLIP) 100\n"


def _stub(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_packages_are_downloaded_once_and_unpacked_whole(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "apt-get", 'echo call >> "$LOG"; [ "$2" = known ] || { echo "E: Unable to locate package $2" >&2; '
                              'exit 100; }; echo deb > "$2_1.0_all.deb"\n')
    _stub(bin_dir, "dpkg-deb", 'mkdir "$3" && mkdir "$3/usr" && echo x > "$3/usr/file"\n')  # as dpkg-deb: no parents
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("LOG", str(tmp_path / "log"))
    deb = fetch_package("known", tmp_path / "cache")
    assert deb.name == "known_1.0_all.deb" and fetch_package("known", tmp_path / "cache") == deb
    assert (tmp_path / "log").read_text() == "call\n"  # the second call used the cache
    with pytest.raises(VibError, match="package 'absent' is not available: .*Unable to locate package absent"):
        fetch_package("absent", tmp_path / "cache")
    dest = unpack_package(deb, tmp_path / "cache/unpacked/known")
    assert (dest / "usr/file").is_file() and not (tmp_path / "cache/unpacked/known.tmp").exists()
    _stub(bin_dir, "dpkg-deb", 'echo "dpkg-deb: error: not a debian format archive" >&2; exit 2\n')
    with pytest.raises(VibError, match="dpkg-deb -x failed .*not a debian format archive"):
        unpack_package(deb, tmp_path / "cache/unpacked/other")
    assert not (tmp_path / "cache/unpacked/other").exists()


def test_conversation_and_page_times_give_page_segments_of_the_credited_actor():
    assert parse_conversation(CONV) == {"HELLO_1": ("syreen-000.ogg", ["First page.", "Second page."]),
                                        "BYE": ("syreen-001.ogg", ["Bye."])}
    assert parse_timestamps(TIMES, "t.ts") == {"HELLO_1": [2000, 3000], "BYE": [], "NO_CLIP": [100]}
    with pytest.raises(VibError, match="t.ts:2: page times must be integers"):
        parse_timestamps("#(A) 1\n#(B) 1,x\n", "t.ts")
    assert ACTORS["syreen"] == "Madeleine Wild" and "zoqfotpik" not in ACTORS and "probe" not in ACTORS


STAMP_TXT = "A frog.\nca.utf8=Una granota.\nca@valencia.utf8=Una granota valenciana.\nes.utf8=Una rana.\n"


def _ogg(path: Path, seconds: float, rate: int, rng: np.random.Generator, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = 0.1 * rng.standard_normal((int(seconds * rate), channels)).astype(np.float32)
    sf.write(path, noise, rate, format="OGG", subtype="VORBIS")


def _fake_tuxpaint(root: Path, rng: np.random.Generator) -> None:
    """Stamps of two credited narrators (ca, es), French (left out), a number (left out) and a
    clip too short to keep."""
    stamps = root / STAMPS
    for stamp, seconds in (("animals/amphibians/frog", 2.0), ("food/fruit/apple", 3.0), ("food/fruit/fig", 0.8)):
        (stamps / f"{stamp}.txt").parent.mkdir(parents=True, exist_ok=True)
        (stamps / f"{stamp}.txt").write_text(STAMP_TXT)
        for lang in ("ca", "es", "fr"):
            _ogg(stamps / f"{stamp}_desc_{lang}.ogg", seconds, 44100, rng, channels=2)
    _ogg(stamps / "symbols/math/one_desc_ca.ogg", 2.0, 44100, rng)


def _fake_packages(cache: Path, seconds: dict[str, float]) -> None:
    """cache/{uqm-voice,uqm-content,tuxpaint-stamps-default}_*.deb (placeholders) and their
    unpacked trees: syreen (two clips, one with page times), vux (same actor), thraddash
    (another actor), zoqfotpik (left out); Tux Paint as :func:`_fake_tuxpaint`."""
    rng = np.random.default_rng(0)
    _fake_tuxpaint(cache / "unpacked/tuxpaint-stamps-default", rng)
    for name in ("uqm-voice", "uqm-content", "tuxpaint-stamps-default"):
        (cache / f"{name}_0.8.0_all.deb").parent.mkdir(parents=True, exist_ok=True)
        (cache / f"{name}_0.8.0_all.deb").write_bytes(b"")
    voice = cache / "unpacked/uqm-voice" / VOICE_ZIP
    voice.parent.mkdir(parents=True)
    with zipfile.ZipFile(voice, "w") as z:
        for race in ("syreen", "vux", "thraddash", "zoqfotpik"):
            z.writestr(f"3dovoice/{race}/{race}.txt", CONV.replace("syreen", race))
            z.writestr(f"3dovoice/{race}/{race}.ts", TIMES)
            for clip, length in (("000", seconds[race]), ("001", 2.0)):
                path = voice.parent / f"{race}-{clip}.ogg"
                _ogg(path, length, 11025, rng)
                z.write(path, f"3dovoice/{race}/{race}-{clip}.ogg")
    content = cache / "unpacked/uqm-content" / CONTENT_ZIP
    content.parent.mkdir(parents=True)
    with zipfile.ZipFile(content, "w") as z:
        z.writestr("base/cutscene/credits/credits.txt", "credits")


def test_tuxpaint_descriptions_and_the_credited_narrators(tmp_path):
    assert parse_descriptions(STAMP_TXT) == {"en": "A frog.", "ca": "Una granota.",
                                             "ca@valencia": "Una granota valenciana.", "es": "Una rana."}
    assert parse_descriptions("ca.utf8=Sense anglès.\n") == {"ca": "Sense anglès."}
    assert NARRATORS["ca"] == "Pere Pujal Carabantes" and "fr" not in NARRATORS and "pt_BR" not in NARRATORS
    assert speaker_id("tux", "Estefanía Ortiz") == "tux-estefania_ortiz"
    _fake_tuxpaint(tmp_path, np.random.default_rng(0))
    (tmp_path / STAMPS / "food/fruit/fig_desc_es.ogg").write_bytes(b"not an ogg file")
    skipped: list[str] = []
    segs = tuxpaint_segments(tmp_path, skipped)
    assert [(s.speaker, s.lang, s.name, s.end_ms, s.text) for s in segs] == [
        ("tux-pere_pujal_carabantes", "ca", "animals-amphibians-frog", 2000, "Una granota."),
        ("tux-pere_pujal_carabantes", "ca", "food-fruit-apple", 3000, "Una granota."),
        ("tux-pere_pujal_carabantes", "ca", "food-fruit-fig", 800, "Una granota."),
        ("tux-estefania_ortiz", "es", "animals-amphibians-frog", 2000, "Una rana."),
        ("tux-estefania_ortiz", "es", "food-fruit-apple", 3000, "Una rana.")]  # no French, no number
    assert len(skipped) == 1 and skipped[0].startswith(f"{tmp_path / STAMPS}/food/fruit/fig_desc_es.ogg\t")


def test_each_speakers_draw_is_its_own():
    def segs(speaker: str, n: int) -> list[Segment]:
        return [Segment(speaker, speaker, "en", f"{speaker}.ogg", f"{i:03d}", 0, 2000, "") for i in range(n)]

    alone = choose_segments(segs("a", 50), 1.5, 8.0, 10, seed=3)
    beside = choose_segments(segs("0", 50) + segs("a", 50) + segs("z", 50), 1.5, 8.0, 10, seed=3)
    assert alone["a"] == beside["a"] and len(alone["a"]) == 10 and set(beside) == {"0", "a", "z"}
    assert choose_segments(segs("a", 50), 1.5, 8.0, 10, seed=4)["a"] != alone["a"]
    assert choose_segments(segs("a", 1) + segs("b", 3), 1.5, 8.0, 10, seed=3).keys() == {"b"}  # one is no pair
    assert choose_segments(segs("a", 3), 2.5, 8.0, 10, seed=3) == {}  # 2-s segments, 2.5 s asked


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()]


def test_the_set_from_fake_packages(tmp_path):
    cache = tmp_path / "cache"
    _fake_packages(cache, {"syreen": 5.0, "vux": 5.0, "thraddash": 5.0, "zoqfotpik": 5.0})
    with zipfile.ZipFile(cache / "unpacked/uqm-voice" / VOICE_ZIP) as z:
        segs = uqm_segments(z, None)
    assert {(s.name, s.start_ms, s.end_ms, s.text) for s in segs if s.clip.endswith("syreen-000.ogg")} == {
        ("syreen-000-00", 0, 2000, "First page."), ("syreen-000-01", 2000, 5000, "Second page.")}
    assert {s.person for s in segs} == {"Madeleine Wild", "Richard Antaki"}  # zoqfotpik left out
    info = prepare_real_speech(tmp_path / "real", cache, min_duration=1.5, max_duration=8.0, max_per_speaker=10)
    wild, antaki = speaker_id("uqm", "Madeleine Wild"), speaker_id("uqm", "Richard Antaki")
    pere, ortiz = "tux-pere_pujal_carabantes", "tux-estefania_ortiz"
    assert wild == "uqm-madeleine_wild" and set(info) == {wild, antaki, pere, ortiz}
    assert info[wild]["segments"] == 4 and info[antaki]["segments"] == 2  # timed pages only
    assert info[pere]["segments"] == 2 and info[pere]["seconds"] == 5.0  # the 0.8-s fig is too short
    data = tmp_path / "real/data"
    utt2spk = dict(_lines(data / "utt2spk"))
    assert sorted(utt2spk) == sorted([f"{wild}-syreen-000-00", f"{wild}-syreen-000-01", f"{wild}-vux-000-00",
                                      f"{wild}-vux-000-01", f"{antaki}-thraddash-000-00",
                                      f"{antaki}-thraddash-000-01", f"{pere}-animals-amphibians-frog",
                                      f"{pere}-food-fruit-apple", f"{ortiz}-animals-amphibians-frog",
                                      f"{ortiz}-food-fruit-apple"])
    utt2lang = dict(_lines(data / "utt2lang"))
    assert {utt2lang[u] for u in utt2spk if u.startswith("uqm-")} == {"en"} and utt2lang[f"{ortiz}-food-fruit-apple"] == "es"
    assert dict(line.split(" ", 1) for line in (data / "text").read_text().splitlines())[
        f"{pere}-animals-amphibians-frog"] == "Una granota."
    for utt, path in _lines(data / "wav.scp"):
        audio, rate = sf.read(path)
        seconds = {"00": 2.0, "01": 3.0, "og": 2.0, "le": 3.0}[utt[-2:]]  # pages 0 / 1, frog / apple
        assert rate == 16000 and audio.ndim == 1 and len(audio) == pytest.approx(seconds * 16000, abs=2)
    for name, same_lang in (("trials", False), ("trials_same_lang", True)):
        trials = _lines(data / name)
        targets = {(e, t) for e, t, y in trials if y == "target"}
        assert len(targets) == 6 + 1 + 1 + 1 and all(utt2spk[e] == utt2spk[t] for e, t in targets)  # every pair
        nontargets = [(e, t) for e, t, y in trials if y == "nontarget"]
        assert nontargets and all(utt2spk[e] != utt2spk[t] for e, t in nontargets)
        assert all(utt2lang[e] == utt2lang[t] for e, t in nontargets) == same_lang
        assert len(_lines(data / f"{name}.txt")) == len(trials)
    tsv = [line.split("\t") for line in (tmp_path / "real/speakers.tsv").read_text(encoding="utf-8").splitlines()]
    assert tsv[0] == ["speaker", "person", "language", "package", "licence", "segments", "seconds"]
    assert [r[:4] + r[5:] for r in tsv if r[0] == ortiz] == [
        [ortiz, "Estefanía Ortiz", "es", "tuxpaint-stamps-default", "2", "5.0"]]
    assert not (tmp_path / "real.tmp").exists()
    assert set(prepare_real_speech(tmp_path / "uqm_only", cache, sources=("uqm",))) == {wild, antaki}
    with pytest.raises(VibError, match="unknown source.*voxceleb; known: uqm, tuxpaint"):
        prepare_real_speech(tmp_path / "x", cache, sources=("uqm", "voxceleb"))


def test_short_clips_bad_options_and_a_clip_that_does_not_decode(tmp_path, capsys):
    cache = tmp_path / "cache"
    _fake_packages(cache, {"syreen": 5.0, "vux": 3.0, "thraddash": 5.0, "zoqfotpik": 5.0})
    with zipfile.ZipFile(cache / "unpacked/uqm-voice" / VOICE_ZIP, "a") as z:  # the second syreen clip: not audio
        z.writestr("3dovoice/syreen/syreen-000.ogg", b"not an ogg file")
    assert main(["--cache", str(cache), str(tmp_path / "real")]) == 0
    skipped = (tmp_path / "real/skipped").read_text()
    assert skipped.startswith("3dovoice/syreen/syreen-000.ogg\t")
    utts = (tmp_path / "real/data/utt2spk").read_text()
    assert "syreen" not in utts and "vux-000-00" in utts and "vux-000-01" not in utts  # the clip ends at 3 s
    capsys.readouterr()
    assert main(["--cache", str(cache), "--min-duration", "7.5", str(tmp_path / "none")]) == 1
    assert "ERROR: only 0 speaker(s) with segments of 7.5-8.0 s; need 2" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    assert main(["--cache", str(cache), "--min-duration", "9", str(tmp_path / "none")]) == 1
    assert "need 0 < --min-duration <= --max-duration" in capsys.readouterr().err
