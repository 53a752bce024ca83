"""local.real_speech: Debian packages fetched and unpacked (stubbed apt-get / dpkg-deb), The
Ur-Quan Masters' conversation and page-time files, and the set written from a fake voice pack."""
from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from local.real_speech.packages import fetch_package, unpack_package
from local.real_speech.prepare import main, prepare_real_speech, speaker_id
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


def _fake_packages(cache: Path, seconds: dict[str, float]) -> None:
    """cache/{uqm-voice,uqm-content}_*.deb (placeholders) and their unpacked trees: syreen (two
    clips, one with page times), vux (same actor), thraddash (another actor), zoqfotpik (left out)."""
    rng = np.random.default_rng(0)
    for name in ("uqm-voice", "uqm-content"):
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
                sf.write(path, 0.1 * rng.standard_normal(int(length * 11025)).astype(np.float32), 11025,
                         format="OGG", subtype="VORBIS")
                z.write(path, f"3dovoice/{race}/{race}-{clip}.ogg")
    content = cache / "unpacked/uqm-content" / CONTENT_ZIP
    content.parent.mkdir(parents=True)
    with zipfile.ZipFile(content, "w") as z:
        z.writestr("base/cutscene/credits/credits.txt", "credits")


def test_the_set_from_a_fake_voice_pack(tmp_path):
    cache = tmp_path / "cache"
    _fake_packages(cache, {"syreen": 5.0, "vux": 5.0, "thraddash": 5.0, "zoqfotpik": 5.0})
    with zipfile.ZipFile(cache / "unpacked/uqm-voice" / VOICE_ZIP) as z:
        segs = uqm_segments(z, None)
    assert {(s.race, s.page, s.start_ms, s.end_ms, s.text) for s in segs if s.clip.endswith("syreen-000.ogg")} == {
        ("syreen", 0, 0, 2000, "First page."), ("syreen", 1, 2000, 5000, "Second page.")}
    assert not any(s.race == "zoqfotpik" for s in segs)
    info = prepare_real_speech(tmp_path / "real", cache, min_duration=1.5, max_duration=8.0, max_per_speaker=10)
    wild, antaki = speaker_id("Madeleine Wild"), speaker_id("Richard Antaki")
    assert wild == "uqm-madeleine_wild" and set(info) == {wild, antaki}
    assert info[wild]["segments"] == 4 and info[antaki]["segments"] == 2  # timed pages only
    data = tmp_path / "real/data"
    utt2spk = dict(line.split() for line in (data / "utt2spk").read_text().splitlines())
    assert sorted(utt2spk) == sorted([f"{wild}-syreen-000-00", f"{wild}-syreen-000-01", f"{wild}-vux-000-00",
                                      f"{wild}-vux-000-01", f"{antaki}-thraddash-000-00",
                                      f"{antaki}-thraddash-000-01"])
    for line in (data / "wav.scp").read_text().splitlines():
        utt, path = line.split()
        audio, rate = sf.read(path)
        page = int(utt[-2:])
        assert rate == 16000 and len(audio) == pytest.approx((2.0, 3.0)[page] * 16000, abs=2)
    trials = [line.split() for line in (data / "trials").read_text().splitlines()]
    targets = {(e, t) for e, t, y in trials if y == "target"}
    assert len(targets) == 6 + 1 and all(utt2spk[e] == utt2spk[t] for e, t in targets)  # every target pair
    assert all(utt2spk[e] != utt2spk[t] for e, t, y in trials if y == "nontarget")
    assert (tmp_path / "real/speakers.tsv").read_text().splitlines()[0] == "speaker\tpackage\tlicence\tsegments\tseconds"
    assert not (tmp_path / "real.tmp").exists()


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
