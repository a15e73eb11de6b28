"""Offline speech synthesis with eSpeak NG (the library shipped by the ``espeakng-loader`` wheel).

A minimal ctypes binding: the library is initialised in synchronous mode and audio is collected
through the synth callback. No root, no system package and no network needed.

eSpeak NG keeps state between utterances in its static variables (a voice variant's settings
persist into later voices that do not set them), and its noise generator starts from a
different seed in every process. So each :func:`synthesize` call loads the library afresh (``dlopen``,
initialise, load the voice, speak, terminate, ``dlclose``: about 8 ms, mostly the voice's
dictionary) and seeds the noise generator with a constant: a call's waveform depends on its text
and voice only, never on what the process spoke before, and is bit-identical from run to run
with the same eSpeak NG build. Synthesis is serial.

    >>> wave = synthesize("seven", Voice("en+f3", pitch=60, rate=170))
    >>> wave.dtype, SAMPLE_RATE
    (dtype('int16'), 22050)
"""

from __future__ import annotations

import _ctypes
import ctypes
import hashlib
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

SAMPLE_RATE = 22050  # eSpeak NG's output rate (checked against espeak_Initialize's return)

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
# espeak_PARAMETER
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7
_RAND_SEED = 1  # eSpeak NG's noise generator, seeded before each utterance
# eSpeak NG copies the data path into a fixed buffer and exits when it is longer.
_MAX_DATA_PATH = 150

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


class Voice(NamedTuple):
    """One synthetic speaker configuration.

    ``name`` is an eSpeak NG voice, optionally with a variant (``"en-us+m3"``); ``pitch`` and
    ``pitch_range`` are eSpeak's 0–100 scales (50 = voice default), ``rate`` is in words per
    minute (80–450), ``word_gap`` adds pauses in units of 10 ms.
    """

    name: str
    pitch: int = 50
    pitch_range: int = 50
    rate: int = 175
    word_gap: int = 0


def _short_data_path(data_path: Path) -> Path:
    """The data directory, behind a short symlink under the temp dir when its path is long."""
    if len(str(data_path).encode()) < _MAX_DATA_PATH:
        return data_path
    digest = hashlib.sha1(str(data_path).encode()).hexdigest()[:8]
    link = Path(tempfile.gettempdir()) / f"espeak-{digest}"
    if not link.exists():
        link.symlink_to(data_path, target_is_directory=True)
    if len(str(link).encode()) >= _MAX_DATA_PATH:
        raise FileNotFoundError(f"eSpeak NG data path {link} is longer than {_MAX_DATA_PATH} bytes")
    return link


class _Engine:
    """A freshly loaded, initialised library and the buffer its callback appends to.

    A context manager: on exit the library is terminated and unloaded, so that the next engine
    starts from eSpeak NG's initial static state.
    """

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as error:  # pragma: no cover - declared dependency
            raise ImportError("the built-in digits need the 'espeakng-loader' package "
                              "(pip install espeakng-loader)") from error
        self.library = ctypes.CDLL(espeakng_loader.get_library_path())
        self.library.espeak_Initialize.restype = ctypes.c_int
        self.library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                                   ctypes.c_int]
        self.library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.library.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.library.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint,
                                              ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                              ctypes.c_void_p, ctypes.c_void_p]
        data_path = _short_data_path(Path(espeakng_loader.get_data_path()))
        rate = self.library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200,
                                              str(data_path).encode(), _INITIALIZE_DONT_EXIT)
        if rate != SAMPLE_RATE:
            self.close()
            raise RuntimeError(f"eSpeak NG initialisation returned {rate}, expected sample rate "
                               f"{SAMPLE_RATE} (data path {data_path})")
        self.chunks: list[np.ndarray] = []
        self.callback = _CALLBACK(self._collect)  # kept alive: the library holds the pointer
        self.library.espeak_SetSynthCallback(self.callback)

    def _collect(self, samples, n_samples: int, events) -> int:
        if n_samples > 0:
            self.chunks.append(np.ctypeslib.as_array(samples, shape=(n_samples,)).copy())
        return 0  # 0 = continue synthesis

    def close(self) -> None:
        self.library.espeak_Terminate()
        _ctypes.dlclose(self.library._handle)

    def __enter__(self) -> _Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """Speak ``text`` with ``voice``: int16 samples at :data:`SAMPLE_RATE` Hz.

    The library is loaded for this call alone and its noise generator is seeded with a constant
    (module docstring), so the result depends on ``text`` and ``voice`` only.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text {text!r}: expected a non-empty string")
    with _Engine() as engine:
        if engine.library.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise ValueError(f"voice {voice.name!r}: not an eSpeak NG voice (e.g. 'en', 'de+f3')")
        for parameter, value in ((_RATE, voice.rate), (_PITCH, voice.pitch),
                                 (_RANGE, voice.pitch_range), (_WORDGAP, voice.word_gap),
                                 (_VOLUME, 100)):
            engine.library.espeak_SetParameter(parameter, int(value), 0)
        encoded = text.encode("utf-8") + b"\0"
        engine.library.espeak_ng_SetRandSeed(_RAND_SEED)  # else: a seed of this process's
        status = engine.library.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0,
                                             _CHARS_UTF8, None, None)
        chunks = engine.chunks
    if status != 0:
        raise RuntimeError(f"eSpeak NG failed to synthesize {text!r} (error {status})")
    if not chunks:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate(chunks).astype(np.int16)


def voice_variants() -> list[str]:
    """Names of the voice variants shipped with the library (usable as ``"en+NAME"``)."""
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file() and " " not in p.name)
