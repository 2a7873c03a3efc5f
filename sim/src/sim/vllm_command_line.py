"""vLLM's command line -> the simulator's: the flags the simulator models pass on (in the spelling its CLI
takes), the vLLM flags it does not model are dropped and reported, anything vLLM would refuse is refused.

vLLM's parsing rules reproduced here (``FlexibleArgumentParser`` over argparse): ``--flag value`` and
``--flag=value``; ``_`` and ``-`` interchangeable in flag names; unambiguous prefixes of a long flag
(argparse's ``allow_abbrev``, e.g. ``--max-num-seq``); ``--no-x`` for boolean flags; several values
after a list flag (``--lora-modules a=/p b=/q``); dotted keys of JSON flags
(``--compilation-config.cudagraph_mode PIECEWISE``); short aliases (``-tp 2``, ``-O3``); a positional
model tag (``vllm serve <model>``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sim.vllm_flags import VLLM_FLAGS, FlagKind, VllmFlag

_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")
_HUMAN_READABLE_INT = re.compile(r"(\d+(?:\.\d+)?)([kKmMgGtT])")
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class CommandLineError(ValueError):
    """A command line vLLM would refuse too; the message names the flag."""


@dataclass(frozen=True)
class TranslatedCommandLine:
    simulator_argv: list[str]
    ignored_vllm_flags: tuple[str, ...]  # canonical names, first-seen order


def human_readable_int(text: str) -> int:
    """vLLM's ``human_readable_int``: ``25.6k`` = 25,600 (decimal), ``1K`` = 1,024 (binary, whole only)."""
    match = _HUMAN_READABLE_INT.fullmatch(text.strip())
    if match is None:
        return int(text)
    number, suffix = match.groups()
    if suffix in _DECIMAL:
        return int(float(number) * _DECIMAL[suffix])
    if "." in number:
        raise ValueError(
            f"{text!r}: decimals are not allowed with binary suffixes; did you mean {text.lower()}?"
        )
    return int(number) * _BINARY[suffix]


def _looks_like_option(token: str) -> bool:
    return token.startswith("-") and token != "-" and not _NEGATIVE_NUMBER.match(token)


class _Tokens:
    """A cursor over argv that hands out flag values as argparse would."""

    def __init__(self, argv: list[str]) -> None:
        self._argv = argv
        self._position = 0

    def __bool__(self) -> bool:
        return self._position < len(self._argv)

    def next(self) -> str:
        self._position += 1
        return self._argv[self._position - 1]

    def _value_follows(self) -> bool:
        return bool(self) and not _looks_like_option(self._argv[self._position])

    def value(self, flag: str, inline: str | None) -> str:
        if inline is not None:
            return inline
        if not self._value_follows():
            raise CommandLineError(f"argument {flag}: expected one argument")
        return self.next()

    def values(self, flag: str, inline: str | None) -> list[str]:
        values = [] if inline is None else [inline]
        while self._value_follows():
            values.append(self.next())
        if not values:
            raise CommandLineError(f"argument {flag}: expected at least one argument")
        return values

    def optional_value(self, inline: str | None) -> str | None:
        return inline if inline is not None or not self._value_follows() else self.next()


class VllmCommandLine:
    """Translates vLLM argv for a simulator CLI whose options are ``simulator_options``
    (spelling -> whether it takes a value)."""

    def __init__(self, simulator_options: Mapping[str, bool], flags: Iterable[VllmFlag] = VLLM_FLAGS) -> None:
        self._simulator = dict(simulator_options)
        self._flags: dict[str, VllmFlag] = {}
        self._negated: dict[str, VllmFlag] = {}
        self._aliases: dict[str, VllmFlag] = {}
        for flag in flags:
            self._flags[flag.name] = flag
            if flag.kind is FlagKind.BOOL:
                self._negated["--no-" + flag.name.removeprefix("--")] = flag
            for alias in flag.aliases:
                self._aliases[alias] = flag
        self._long_names = sorted(set(self._simulator) | set(self._flags) | set(self._negated))

    def translate(self, argv: list[str]) -> TranslatedCommandLine:
        """Raises CommandLineError for a flag vLLM does not have, a missing value, an ambiguous prefix."""
        out: list[str] = []
        ignored: dict[str, None] = {}
        tokens = _Tokens(list(argv))
        model_tag_seen = False
        while tokens:
            token = tokens.next()
            if token.startswith("--") and len(token) > 2:
                spelled, has_value, inline_text = token.partition("=")
                inline = inline_text if has_value else None
                head, dot, _ = spelled.partition(".")
                name = self._resolve("--" + head[2:].replace("_", "-"))
                if dot:  # --compilation-config.level 3
                    self._check_dotted(name, spelled)
                    tokens.value(spelled, inline)
                    ignored[name] = None
                elif name in self._simulator:
                    out += self._simulator_tokens(name, inline, tokens)
                else:
                    flag = self._flags.get(name) or self._negated[name]
                    self._skip_values(flag, name, inline, tokens)
                    ignored[flag.name] = None
            elif _looks_like_option(token):
                flag, inline = self._short(token)
                if flag.name in self._simulator:
                    out += self._simulator_tokens(flag.name, inline, tokens)
                else:
                    tokens.value(token, inline)
                    ignored[flag.name] = None
            elif not model_tag_seen:
                model_tag_seen = True  # vLLM's optional positional model_tag (vllm serve <model>)
                out += ["--model", token]
            else:
                raise CommandLineError(f"unrecognized arguments: {token}")
        return TranslatedCommandLine(out, tuple(ignored))

    def _simulator_tokens(self, name: str, inline: str | None, tokens: _Tokens) -> list[str]:
        """The option in the simulator CLI's spelling; list flags repeated once per value (click's form)."""
        if not self._simulator[name]:
            if inline is not None:
                raise CommandLineError(f"argument {name}: ignored explicit argument {inline!r}")
            return [name]
        flag = self._flags.get(name)
        if flag is not None and flag.kind is FlagKind.VALUES:
            return [item for value in tokens.values(name, inline) for item in (name, value)]
        value = tokens.value(name, inline)
        if flag is not None and flag.human_readable_int:
            try:
                value = str(human_readable_int(value))
            except ValueError as error:
                raise CommandLineError(f"argument {name}: invalid value {value!r}: {error}") from None
        return [name, value]

    @staticmethod
    def _skip_values(flag: VllmFlag, name: str, inline: str | None, tokens: _Tokens) -> None:
        """Consume what an unmodelled flag takes, as vLLM's parser would."""
        if flag.kind in (FlagKind.BOOL, FlagKind.SWITCH):
            if inline is not None:
                raise CommandLineError(f"argument {name}: ignored explicit argument {inline!r}")
        elif flag.kind is FlagKind.OPTIONAL_VALUE:
            tokens.optional_value(inline)
        elif flag.kind is FlagKind.VALUE:
            tokens.value(name, inline)
        else:
            tokens.values(name, inline)

    def _check_dotted(self, name: str, spelled: str) -> None:
        flag = self._flags.get(name)
        if flag is None or flag.kind is not FlagKind.VALUE or name in self._simulator:
            raise CommandLineError(
                f"{spelled}: only JSON-valued vLLM flags take dotted keys; {name} does not"
            )

    def _short(self, token: str) -> tuple[VllmFlag, str | None]:
        """``-tp 2``, ``-tp=2``, ``-O3``, ``-O.level 3``: the flag and any value inside the token."""
        spelled, has_value, inline_text = token.partition("=")
        if spelled in self._aliases:
            return self._aliases[spelled], inline_text if has_value else None
        compilation = self._aliases.get("-O")
        if compilation is not None and token.startswith("-O"):
            if token.startswith("-O."):
                return compilation, inline_text if has_value else None
            return compilation, token[2:].removeprefix("=")  # -O3: the value glued to the flag
        raise CommandLineError(f"unrecognized arguments: {token} (not a vLLM flag)")

    def _resolve(self, name: str) -> str:
        """The full flag name: exact, or the one flag ``name`` is a prefix of (argparse's abbreviations)."""
        if name in self._simulator or name in self._flags or name in self._negated:
            return name
        candidates = [known for known in self._long_names if known.startswith(name)]
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise CommandLineError(f"ambiguous option: {name} could match {', '.join(candidates)}")
        raise CommandLineError(
            f"unrecognized arguments: {name} (neither a vLLM flag nor a simulator option; see --help)"
        )
