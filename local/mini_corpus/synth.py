"""Synthesis of one utterance: TTS engine (rate, intonation) -> sox (speed warp, 16 kHz) -> checks -> wav.

Everything random about an utterance comes from its own seed, so the same
seed gives the same bytes in any worker. Audio arrays are float32 in [-1, 1].
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from local.mini_corpus.text import random_text
from local.mini_corpus.voices import Voice, mbrola_database, require_tool

SAMPLE_RATE = 16000
MIN_DUR, MAX_DUR = 1.5, 6.0        # seconds per utterance
MIN_SPEECH_DB = -35.0              # speech level (dBFS) below which an output counts as near-silent
PEAK_RANGE = (0.25, 0.9)           # random peak level of a written utterance
TEMPO_RANGE = (0.88, 1.12)         # per-utterance speaking-rate jitter (engine-native)
SPEED_JITTER = (0.97, 1.03)        # per-utterance sox speed (pitch and tempo) jitter around the warp
MAX_TRIES = 4


@dataclass(frozen=True)
class UttSpec:
    """What to synthesise: ``seed`` (tuple of ints) drives all randomness; ``warp`` is the
    sox ``speed`` factor that makes a warped class (1.0 = the donor's own voice)."""

    utt: str
    spk: str
    path: str
    voice: Voice
    kind: str
    warp: float
    seed: tuple[int, ...]


def engine_wav(voice: Voice, text: str, tempo: float = 1.0, pitch: float = 0.0) -> bytes:
    """The engine's wav output (native rate, 16-bit) for ``text``; ``tempo`` scales the speaking
    rate and ``pitch`` in [-1, 1] shifts the intonation where the engine can (not flite)."""
    espeak = [require_tool("espeak-ng"), "-v", voice.name, "-s", str(round(175 * tempo)),
              "-p", str(round(50 + 15 * pitch))]
    if voice.engine == "espeak":
        return subprocess.run([*espeak, "--stdout", text], capture_output=True, check=True).stdout
    if voice.engine == "espeak-mbrola":
        # espeak-ng's own mbrola pipe (mbrowrap) races and now and then truncates the output, so
        # espeak-ng only writes the phonemes and mbrola, run here, renders them: deterministic.
        pho = subprocess.run([*espeak, "-q", "--pho", text], capture_output=True, check=True).stdout
        cmd = [require_tool("mbrola"), "-e", mbrola_database(voice.name[3:]), "-", "-.wav"]
        return subprocess.run(cmd, input=pho, capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory(prefix="mini-corpus-") as tmp:
        out = os.path.join(tmp, "out.wav")
        if voice.engine == "pico":
            markup = f"<speed level='{round(100 * tempo)}'><pitch level='{round(100 + 15 * pitch)}'>{text}</pitch></speed>"
            cmd = [require_tool("pico2wave"), "-l", voice.name, "-w", out, markup]
        elif voice.engine == "flite":
            cmd = [require_tool("flite"), "-voice", voice.name, "--setf", f"duration_stretch={1 / tempo:.3f}",
                   "-t", text, "-o", out]
        else:
            raise ValueError(f"unknown engine '{voice.engine}' for voice {voice.donor}")
        subprocess.run(cmd, capture_output=True, check=True)
        with open(out, "rb") as f:
            return f.read()


def sox_process(wav: bytes, effects: list[str]) -> np.ndarray:
    """Runs sox ``effects`` on ``wav`` and returns mono float32 samples at 16 kHz."""
    cmd = [require_tool("sox"), "-V1", "--ignore-length", "-t", "wav", "-", "-t", "raw", "-e", "floating-point", "-b", "32",
           "-c", "1", "-", *effects, "rate", "-h", str(SAMPLE_RATE)]
    out = subprocess.run(cmd, input=wav, capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype="<f4").copy()


def frame_power(audio: np.ndarray) -> np.ndarray:
    """Mean power of consecutive 10 ms frames, shape [num_frames]."""
    hop = SAMPLE_RATE // 100
    n = audio.size // hop
    return np.square(audio[:n * hop].reshape(n, hop), dtype=np.float64).mean(axis=1)


def speech_level_db(audio: np.ndarray) -> float:
    """Level of the speech in dBFS: the 95th percentile of 10 ms frame powers (pauses and
    the silence engines insert for unknown phonemes do not count); -200 for silence."""
    power = frame_power(audio)
    return 10.0 * np.log10(max(float(np.percentile(power, 95)) if power.size else 0.0, 1e-20))


def trim_silence(audio: np.ndarray, margin_s: float = 0.1, floor_db: float = 40.0) -> np.ndarray:
    """Drops leading/trailing 10 ms frames quieter than the loudest frame minus ``floor_db``,
    keeping ``margin_s`` of context."""
    hop = SAMPLE_RATE // 100
    energy = frame_power(audio)
    if energy.size == 0 or energy.max() == 0:
        return audio
    loud = np.flatnonzero(energy > energy.max() * 10 ** (-floor_db / 10))
    margin = int(margin_s * SAMPLE_RATE)
    return audio[max(0, loud[0] * hop - margin):min(audio.size, (loud[-1] + 1) * hop + margin)]


def check_voice(voice: Voice) -> tuple[bool, str]:
    """Energy check of a voice: both a digit string and a word text must be audible."""
    for text in ("3 7 1 9 4 2 8", "the green apple is on the table near the window"):
        try:
            audio = sox_process(engine_wav(voice, text), [])
        except subprocess.CalledProcessError as err:
            return False, f"synthesis failed: {err.stderr.decode(errors='replace').strip()[:200]}"
        if speech_level_db(audio) < MIN_SPEECH_DB:
            return False, f"near-silent for '{text}'"
    return True, "ok"


def synthesize(spec: UttSpec) -> tuple[np.ndarray, str] | None:
    """(audio, text) of the utterance (1.5-6 s, random tempo/intonation/speed/level), or None
    when every try was near-silent or too short."""
    rng = np.random.default_rng(list(spec.seed))
    tempo = rng.uniform(*TEMPO_RANGE)
    pitch = rng.uniform(-1.0, 1.0)
    speed = spec.warp * rng.uniform(*SPEED_JITTER)
    peak = rng.uniform(*PEAK_RANGE)
    for attempt in range(MAX_TRIES):
        text = random_text(spec.kind, rng, extra=3 * attempt)
        audio = sox_process(engine_wav(spec.voice, text, tempo, pitch), ["speed", f"{speed:.4f}"])
        if speech_level_db(audio) < MIN_SPEECH_DB:
            continue
        audio = trim_silence(audio)
        if audio.size < MIN_DUR * SAMPLE_RATE:
            continue
        if audio.size > MAX_DUR * SAMPLE_RATE:
            audio = audio[:int(MAX_DUR * SAMPLE_RATE)].copy()
            fade = int(0.03 * SAMPLE_RATE)
            audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        return (audio * (peak / max(float(np.abs(audio).max()), 1e-9))).astype(np.float32), text
    return None


def write_wav(path: str, audio: np.ndarray) -> None:
    """Writes 16 kHz mono 16-bit PCM atomically (temp name, then rename)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)
