"""Augmentation sources laid out like the real corpora, so one code path serves both.

* ``RIRS_NOISES/simulated_rirs/{small,medium,large}room/RoomNNN/RoomNNN-000KK.wav`` and a
  ``rir_list`` per room-size folder (``--rir-id ID --room-id ROOM RIRS_NOISES/...wav``, paths
  relative to the parent of RIRS_NOISES, as in the OpenSLR-28 release), simulated with
  pyroomacoustics' image-source method in shoebox rooms of random size and RT60.
* ``musan/noise/synthetic/`` coloured and modulated noise, ``musan/music/synthetic/`` tone
  sequences with harmonics and envelopes (+ an ``ANNOTATIONS`` file as MUSAN's music folders
  have), ``musan/speech/espeak/`` single-talker speech from espeak-ng's own formant voices,
  which no corpus speaker uses (sum several for babble).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from local.mini_corpus.synth import SAMPLE_RATE, engine_wav, sox_process, trim_silence, write_wav
from local.mini_corpus.text import random_text
from local.mini_corpus.voices import Voice
from vib.errors import VibError
from vib.io.tables import atomic_output

# room-size folder -> (side length range in m, RT60 range in s), after Kaldi's simulated RIRs
ROOM_SIZES = {"smallroom": ((3.0, 10.0), (0.2, 0.6)), "mediumroom": ((10.0, 30.0), (0.3, 0.8)),
              "largeroom": ((30.0, 50.0), (0.4, 1.0))}
RIR_SECONDS = 1.0
MAX_ISM_ORDER = 12     # caps simulation time in big reverberant rooms; the tail is truncated anyway
SPEECH_VOICES = ("en+m1", "en+f2", "de+m3", "fr+f1", "es+m2", "it+f3", "pl+m4", "nl+f4", "sv+m5",
                 "pt+f5", "cs+m6", "fi+m7", "hu+f1", "ro+m2", "da+f2", "tr+m3")


def simulate_rir(size: str, rng: np.random.Generator) -> np.ndarray:
    """One room impulse response, float32 [RIR_SECONDS * 16000], peak 0.9."""
    import pyroomacoustics as pra

    (side_lo, side_hi), (rt_lo, rt_hi) = ROOM_SIZES[size]
    dims = np.array([rng.uniform(side_lo, side_hi), rng.uniform(side_lo, side_hi), rng.uniform(2.5, 5.0)])
    rt60 = rng.uniform(rt_lo, rt_hi)
    absorption, order = pra.inverse_sabine(rt60, dims)
    room = pra.ShoeBox(dims, fs=SAMPLE_RATE, materials=pra.Material(absorption),
                       max_order=min(order, MAX_ISM_ORDER))
    source, mic = (rng.uniform(0.5, dims - 0.5) for _ in range(2))
    room.add_source(source)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.zeros(int(RIR_SECONDS * SAMPLE_RATE), dtype=np.float32)
    raw = np.asarray(room.rir[0][0], dtype=np.float32)[:rir.size]
    rir[:raw.size] = raw
    return rir * (0.9 / max(float(np.abs(rir).max()), 1e-9))


def write_rirs(out_dir: Path, num_rooms: int, rirs_per_room: int, seed: int) -> None:
    """``out_dir/RIRS_NOISES/simulated_rirs/<size>/`` with ``num_rooms`` rooms of each size."""
    import pyroomacoustics as pra

    pra.constants.set("num_threads", 1)
    for size_index, size in enumerate(ROOM_SIZES):
        size_dir = out_dir / "RIRS_NOISES" / "simulated_rirs" / size
        lines = []
        for room in range(1, num_rooms + 1):
            for k in range(1, rirs_per_room + 1):
                name = f"Room{room:03d}-{k:05d}"
                path = size_dir / f"Room{room:03d}" / f"{name}.wav"
                if not path.exists():
                    write_wav(str(path), simulate_rir(size, np.random.default_rng([seed, 1, size_index, room, k])))
                lines.append(f"--rir-id {size}-{name} --room-id {size}-Room{room:03d} "
                             f"{path.relative_to(out_dir)}\n")
        with atomic_output(str(size_dir / "rir_list")) as f:
            f.writelines(lines)


def colored_noise(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise (spectral slope 0, -1, -2 in power), optionally amplitude-
    modulated or with mains hum, float32 [num_samples], peak 0.5."""
    slope = rng.choice([0.0, -1.0, -2.0])
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    freqs = np.fft.rfftfreq(num_samples, 1.0 / SAMPLE_RATE)
    spectrum *= np.maximum(freqs, 20.0) ** (slope / 2)
    noise = np.fft.irfft(spectrum, n=num_samples)
    t = np.arange(num_samples) / SAMPLE_RATE
    kind = rng.integers(3)
    if kind == 1:      # slow amplitude modulation (fan, traffic passing)
        noise *= 1.0 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.1, 2.0) * t)
    elif kind == 2:    # mains hum with harmonics
        noise /= np.abs(noise).max()
        base = rng.choice([50.0, 60.0])
        noise += sum(0.3 / h * np.sin(2 * np.pi * base * h * t) for h in range(1, 6))
    return (noise * (0.5 / np.abs(noise).max())).astype(np.float32)


def music_like(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """A sequence of notes/chords on a random scale with harmonics and decaying envelopes,
    float32 [num_samples], peak 0.5."""
    out = np.zeros(num_samples)
    tempo_s = rng.uniform(0.15, 0.6)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12) * 2.0 ** rng.integers(-1, 2)
    harmonics = rng.uniform(0.1, 0.7, size=6) ** np.arange(6)
    note_len = int(tempo_s * SAMPLE_RATE * 2)
    t = np.arange(note_len) / SAMPLE_RATE
    envelope = np.exp(-t * rng.uniform(2.0, 8.0)) * np.minimum(1.0, t / 0.01)
    for start in range(0, num_samples, int(tempo_s * SAMPLE_RATE)):
        notes = scale[rng.integers(0, len(scale), size=rng.integers(1, 4))]
        wave = sum(harmonics[h] * np.sin(2 * np.pi * f * (h + 1) * t) for f in notes for h in range(6))
        end = min(num_samples, start + note_len)
        out[start:end] += (wave * envelope)[:end - start]
    return (out * (0.5 / max(np.abs(out).max(), 1e-9))).astype(np.float32)


def babble_speech(seconds: float, voice_name: str, rng: np.random.Generator) -> np.ndarray:
    """Single-talker speech from an espeak-ng formant voice reading random words, float32, peak 0.5."""
    voice = Voice(donor=f"espeak-{voice_name}", engine="espeak", name=voice_name, lang="xx",
                  package="espeak-ng")
    text = random_text("words", rng, extra=int(seconds * 2.5))
    audio = trim_silence(sox_process(engine_wav(voice, text), []))[:int(seconds * SAMPLE_RATE)]
    return (audio * (0.5 / max(float(np.abs(audio).max()), 1e-9))).astype(np.float32)


def write_musan(out_dir: Path, num_files: int, seconds: float, seed: int) -> None:
    """``out_dir/musan/{noise,music,speech}/<subdir>/*.wav``, ``num_files`` of each."""
    num_samples = int(seconds * SAMPLE_RATE)
    makers = {
        ("noise", "synthetic"): lambda rng, i: colored_noise(num_samples, rng),
        ("music", "synthetic"): lambda rng, i: music_like(num_samples, rng),
        ("speech", "espeak"): lambda rng, i: babble_speech(seconds, SPEECH_VOICES[i % len(SPEECH_VOICES)], rng),
    }
    for kind_index, ((kind, subdir), make) in enumerate(makers.items()):
        folder = out_dir / "musan" / kind / subdir
        for i in range(num_files):
            path = folder / f"{kind}-{subdir}-{i:04d}.wav"
            if not path.exists():
                try:
                    write_wav(str(path), make(np.random.default_rng([seed, 2, kind_index, i]), i))
                except subprocess.CalledProcessError as err:
                    raise VibError(f"synthesis of {path} failed: {err.stderr.decode(errors='replace')}")
        if kind == "music":   # MUSAN's music folders list "<id> <genres> <vocals Y/N> <artist>"
            with atomic_output(str(folder / "ANNOTATIONS")) as f:
                f.writelines(f"{kind}-{subdir}-{i:04d} synthetic N synthetic\n" for i in range(num_files))
