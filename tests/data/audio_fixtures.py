"""Generated audio for the data tests: sine + noise mixtures written with soundfile."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf


def tone(seconds: float, seed: int, sr: int = 16000) -> np.ndarray:
    """A speaker-like test signal: two sines plus noise, float in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 40 * (seed % 7)
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(2 * np.pi * 3.1 * f0 * t)
            + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def write_wav(path: Path, seconds: float, seed: int, sr: int = 16000, channels: int = 1) -> Path:
    """Writes a 16-bit wav of :func:`tone` and returns its absolute path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    x = tone(seconds, seed, sr)
    sf.write(path, np.stack([x] * channels, axis=1) if channels > 1 else x, sr, subtype="PCM_16")
    return path.resolve()


def make_voxceleb_tree(root: Path) -> dict[str, Path]:
    """A miniature VoxCeleb: vox1 dev (2 speakers), vox1 test (2), vox2 dev (1, m4a), official lists."""
    dirs = {"vox1_dev": root / "voxceleb1/dev/wav", "vox1_test": root / "voxceleb1/test/wav",
            "vox2_dev": root / "voxceleb2/dev/aac", "lists": root / "lists"}
    seed = 0
    for key, speakers in (("vox1_dev", ["id10001", "id10002"]), ("vox1_test", ["id10270", "id10300"])):
        for spk in speakers:
            for video in ("x6uYqmx31kE", "8jE-Ag6S_gY"):
                for n in (1, 2):
                    seed += 1
                    write_wav(dirs[key] / spk / video / f"{n:05d}.wav", 1.0 + 0.1 * n, seed)
    for n in (1, 2):
        wav = write_wav(root / "tmp" / f"{n}.wav", 1.0, 100 + n)
        out = dirs["vox2_dev"] / "id00012" / "21Uxsk56VDQ" / f"{n:05d}.m4a"
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), str(out)], check=True)
    dirs["lists"].mkdir(parents=True)
    o = ["1 id10270/x6uYqmx31kE/00001.wav id10270/8jE-Ag6S_gY/00002.wav",
         "0 id10270/x6uYqmx31kE/00001.wav id10300/x6uYqmx31kE/00001.wav"]
    (dirs["lists"] / "veri_test.txt").write_text("\n".join(o) + "\n")
    (dirs["lists"] / "veri_test2.txt").write_text(o[1] + "\n")
    e = ["1 id10001/x6uYqmx31kE/00001.wav id10001/8jE-Ag6S_gY/00001.wav",
         "0 id10002/x6uYqmx31kE/00002.wav id10300/8jE-Ag6S_gY/00002.wav"]
    (dirs["lists"] / "list_test_all2.txt").write_text("\n".join(e) + "\n")
    return dirs


def make_augmentation_tree(root: Path) -> tuple[Path, Path]:
    """MUSAN-like and RIRS_NOISES-like trees (layout of the real corpora); returns both roots."""
    rng = np.random.default_rng(7)
    musan = root / "musan"
    for category in ("noise", "music", "speech"):
        for i in range(2):
            path = musan / category / "sub" / f"{category}-{i:04d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, 0.1 * rng.standard_normal(int(16000 * (0.5 + 2 * i))), 16000, subtype="PCM_16")
    rirs = root / "RIRS_NOISES"
    for room in ("smallroom", "mediumroom", "largeroom"):
        folder = rirs / "simulated_rirs" / room
        (folder / "Room001").mkdir(parents=True)
        lines = []
        for k in (1, 2):
            rir = np.zeros(2000)
            rir[5] = 1.0
            rir[5:] += 0.3 * rng.standard_normal(1995) * np.exp(-np.arange(1995) / 300)
            rel = f"RIRS_NOISES/simulated_rirs/{room}/Room001/Room001-{k:05d}.wav"
            sf.write(root / rel, 0.9 * rir / np.abs(rir).max(), 16000, subtype="PCM_16")
            lines.append(f"--rir-id {room}-Room001-{k:05d} --room-id {room}-Room001 {rel}\n")
        (folder / "rir_list").write_text("".join(lines))
    return musan, rirs
