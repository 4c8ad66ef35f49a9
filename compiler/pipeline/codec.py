"""The compile cache's on-disk format: registered dataclasses as JSON, checked field by field.

A cache entry is read back from a directory anyone with commit access can write into, so reading
it must not be able to run code (as unpickling can) nor build anything but what the compile
itself would have built. Decoding is driven by the declared types of the root class: every
dataclass and enum met on the way must be registered by name, every field must be present with
a value of its declared type, and nothing else is built. Anything unexpected raises
DecodeError; the cache treats it as a miss.

An entry is ``MAGIC``, one line of JSON (``{"root": ..., "strings": [...], "value": ...}``),
then the UTF-8 bytes of the long strings (the generated files, mostly), one after the other:
``strings`` holds their lengths in bytes, and a ``str`` field refers to one by its index. Kept
out of the JSON they are read without unescaping, and a text that appears twice (a generated file
and what the consistency check read of it) is stored once.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import operator
import re
import types
import typing
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Generic, TypeVar

MAGIC = b"slo-cache data 2\n"
LONG_STRING = 256  # characters; a str at least this long goes to the string table

T = TypeVar("T")
Encoder = Callable[[Any, "_Strings"], Any]
Decoder = Callable[[Any, list[str]], Any]


class DecodeError(ValueError):
    """Bytes that are not an entry of this codec: corrupt, truncated, another format or version,
    or a value that is not of its declared type."""


class EncodeError(ValueError):
    """A value that this codec cannot write so that it reads back equal: the entry is skipped."""


class _Strings:
    """The string table of one entry being encoded: each distinct long string once."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.blobs: list[bytes] = []

    def ref(self, text: str) -> int:
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.blobs)
            self.blobs.append(text.encode("utf-8"))
        return found


def _bad(what: str) -> DecodeError:
    return DecodeError(what)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _scalar(tp: type) -> tuple[Encoder, Decoder]:
    name = tp.__name__

    def encode(value: Any, strings: _Strings) -> Any:
        if type(value) is not tp:
            raise EncodeError(f"{name} expected, got {type(value).__name__}")
        return value

    def decode(value: Any, strings: list[str]) -> Any:
        if type(value) is not tp:
            raise _bad(f"{name} expected, got {type(value).__name__}")
        return value

    return encode, decode


def _str_coder() -> tuple[Encoder, Decoder]:
    def encode(value: Any, strings: _Strings) -> Any:
        if type(value) is not str:
            raise EncodeError(f"str expected, got {type(value).__name__}")
        return strings.ref(value) if len(value) >= LONG_STRING else value

    def decode(value: Any, table: list[str]) -> Any:
        kind = type(value)
        if kind is str:
            return value
        if kind is int and 0 <= value < len(table):
            return table[value]
        raise _bad(f"str expected, got {kind.__name__} {value!r:.40}")

    return encode, decode


def _float_coder() -> tuple[Encoder, Decoder]:
    def encode(value: Any, strings: _Strings) -> Any:
        if type(value) is not float or not math.isfinite(value):
            raise EncodeError(f"finite float expected, got {value!r:.40}")
        return value

    def decode(value: Any, strings: list[str]) -> Any:
        if type(value) is not float:
            raise _bad(f"float expected, got {type(value).__name__}")
        return value

    return encode, decode


def _decimal_coder() -> tuple[Encoder, Decoder]:
    def encode(value: Any, strings: _Strings) -> Any:
        if type(value) is not Decimal or not _sane(value):
            raise EncodeError(f"Decimal expected, got {value!r:.40}")
        return str(value)  # reads back with the same sign, digits and exponent

    def decode(value: Any, strings: list[str]) -> Any:
        if type(value) is str and len(value) <= 120:
            try:
                number = Decimal(value)
            except ArithmeticError:
                pass
            else:
                if _sane(number):
                    return number
        raise _bad(f"Decimal expected, got {value!r:.40}")

    return encode, decode


def _sane(number: Decimal) -> bool:
    """A finite number of at most 100 digits, within 1E±1000: what a spec can say, and nothing
    that a planted entry could make formatting it cost gigabytes with (1E+999999999)."""
    _, digits, exponent = number.as_tuple()
    return isinstance(exponent, int) and len(digits) <= 100 and -1000 <= exponent <= 1000


def _plain(value: Any, depth: int = 0) -> None:
    """Check that ``value`` is plain JSON data (what YAML's safe loader gives, less dates): it
    then reads back from JSON as itself."""
    kind = type(value)
    if value is None or kind in (str, int, bool):
        return
    if kind is float:
        if not math.isfinite(value):
            raise EncodeError(f"not a finite number: {value!r}")
        return
    if depth > 200:
        raise EncodeError("data nested too deep")
    if kind is list:
        for item in value:
            _plain(item, depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise EncodeError(f"a mapping key that is not a string: {key!r:.40}")
            _plain(item, depth + 1)
        return
    raise EncodeError(f"not plain data: {kind.__name__}")


def _any_coder() -> tuple[Encoder, Decoder]:
    def encode(value: Any, strings: _Strings) -> Any:
        _plain(value)
        return value

    def decode(value: Any, strings: list[str]) -> Any:
        return value  # JSON gives plain data only (NaN and infinities are refused on parsing)

    return encode, decode


def _sequence(
    item: tuple[Encoder, Decoder], make: type, as_is: type | None = None
) -> tuple[Encoder, Decoder]:
    """A list, tuple or frozenset of items, as a JSON array. ``as_is``: the JSON type whose
    values are items as they are (str, int, bool), so that an array of only those is taken whole."""
    encode_item, decode_item = item
    name = make.__name__
    only = frozenset([as_is] if as_is is not None else [])

    def encode(value: Any, strings: _Strings) -> Any:
        if type(value) is not make:
            raise EncodeError(f"{name} expected, got {type(value).__name__}")
        encoded = [encode_item(x, strings) for x in typing.cast(Iterable[Any], value)]
        if make is frozenset:
            try:
                encoded.sort()  # the same set, the same bytes
            except TypeError:
                pass
        return encoded

    def decode(value: Any, strings: list[str]) -> Any:
        if type(value) is not list:
            raise _bad(f"{name} expected, got {type(value).__name__}")
        if only and set(map(type, value)) <= only:
            items = value
        else:
            items = [decode_item(x, strings) for x in value]
        return items if make is list else make(items)

    return encode, decode


def _fixed_tuple(items: list[tuple[Encoder, Decoder]]) -> tuple[Encoder, Decoder]:
    count = len(items)

    def encode(value: Any, strings: _Strings) -> Any:
        if type(value) is not tuple or len(value) != count:
            raise EncodeError(f"tuple of {count} expected, got {value!r:.40}")
        return [coder[0](x, strings) for coder, x in zip(items, value)]

    def decode(value: Any, strings: list[str]) -> Any:
        if type(value) is not list or len(value) != count:
            raise _bad(f"{count} items expected, got {value!r:.40}")
        return tuple([coder[1](x, strings) for coder, x in zip(items, value)])

    return encode, decode


def _dict_coder(
    key: tuple[Encoder, Decoder] | None, item: tuple[Encoder, Decoder]
) -> tuple[Encoder, Decoder]:
    """dict[str, X] as a JSON object (key order kept); other keys as a list of pairs."""
    encode_item, decode_item = item
    if key is None:

        def encode(value: Any, strings: _Strings) -> Any:
            if type(value) is not dict:
                raise EncodeError(f"dict expected, got {type(value).__name__}")
            result = {}
            for k, v in value.items():
                if type(k) is not str:
                    raise EncodeError(f"str key expected, got {k!r:.40}")
                result[k] = encode_item(v, strings)
            return result

        def decode(value: Any, strings: list[str]) -> Any:
            if type(value) is not dict:
                raise _bad(f"dict expected, got {type(value).__name__}")
            return {k: decode_item(v, strings) for k, v in value.items()}

        return encode, decode
    encode_key, decode_key = key

    def encode_pairs(value: Any, strings: _Strings) -> Any:
        if type(value) is not dict:
            raise EncodeError(f"dict expected, got {type(value).__name__}")
        return [[encode_key(k, strings), encode_item(v, strings)] for k, v in value.items()]

    def decode_pairs(value: Any, strings: list[str]) -> Any:
        if type(value) is not list:
            raise _bad(f"list of pairs expected, got {type(value).__name__}")
        result = {}
        for pair in value:
            if type(pair) is not list or len(pair) != 2:
                raise _bad(f"a pair expected, got {pair!r:.40}")
            k, v = decode_key(pair[0], strings), decode_item(pair[1], strings)
            try:
                result[k] = v
            except TypeError:  # an unhashable key
                raise _bad(f"unusable key {k!r:.40}") from None
        return result

    return encode_pairs, decode_pairs


def _optional(inner: tuple[Encoder, Decoder]) -> tuple[Encoder, Decoder]:
    encode_inner, decode_inner = inner

    def encode(value: Any, strings: _Strings) -> Any:
        return None if value is None else encode_inner(value, strings)

    def decode(value: Any, strings: list[str]) -> Any:
        return None if value is None else decode_inner(value, strings)

    return encode, decode


class Codec(Generic[T]):
    """Encode and decode values of ``root`` (a dataclass), built only from ``registered``
    dataclasses and enums, found by their names."""

    def __init__(self, root: type[T], registered: Iterable[type]):
        self.root = root
        self.registered: dict[str, type] = {}
        for cls in registered:
            if not (dataclasses.is_dataclass(cls) or issubclass(cls, enum.Enum)):
                raise TypeError(f"{cls!r}: only dataclasses and enums can be registered")
            if self.registered.setdefault(cls.__name__, cls) is not cls:
                raise TypeError(f"two registered types are named {cls.__name__}")
        self._coders: dict[Any, tuple[Encoder, Decoder]] = {}
        self._root: tuple[Encoder, Decoder] | None = None

    # --- building the coders from the declared types ----------------------------------------
    def _coder(self, tp: Any) -> tuple[Encoder, Decoder]:
        found = self._coders.get(tp)
        if found is None:
            found = self._coders[tp] = self._make(tp)
        return found

    def _make(self, tp: Any) -> tuple[Encoder, Decoder]:
        if tp is str:
            return _str_coder()
        if tp in (int, bool):
            return _scalar(tp)
        if tp is float:
            return _float_coder()
        if tp is Decimal:
            return _decimal_coder()
        if tp is Any:
            return _any_coder()
        if tp is tuple:  # a bare tuple: of plain data (a document path of keys and indexes)
            return _sequence(_any_coder(), tuple)
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (types.UnionType, typing.Union):
            return self._union(args)
        if origin in (list, frozenset) and len(args) == 1:
            return _sequence(self._coder(args[0]), origin, _AS_IS.get(args[0]))
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return _sequence(self._coder(args[0]), tuple, _AS_IS.get(args[0]))
        if origin is tuple and args and Ellipsis not in args:
            return _fixed_tuple([self._coder(a) for a in args])
        if origin is dict and len(args) == 2:
            key = None if args[0] is str else self._coder(args[0])
            return _dict_coder(key, self._coder(args[1]))
        if isinstance(tp, type) and self.registered.get(tp.__name__) is tp:
            if issubclass(tp, enum.Enum):
                return self._enum(tp)
            return self._dataclass(tp)
        raise TypeError(f"{self.root.__name__} holds {tp!r}, which is not registered")

    def _enum(self, cls: type[enum.Enum]) -> tuple[Encoder, Decoder]:
        by_value = {member.value: member for member in cls}
        value_types = {type(v) for v in by_value}
        if not value_types <= {str, int}:
            raise TypeError(f"{cls.__name__}: enum values must be str or int")

        def encode(value: Any, strings: _Strings) -> Any:
            if type(value) is not cls:
                raise EncodeError(f"{cls.__name__} expected, got {type(value).__name__}")
            return value.value

        def decode(value: Any, strings: list[str]) -> Any:
            if type(value) in value_types:
                member = by_value.get(value)
                if member is not None:
                    return member
            raise _bad(f"not a {cls.__name__}: {value!r:.40}")

        return encode, decode

    def _dataclass(self, cls: type) -> tuple[Encoder, Decoder]:
        name = cls.__name__
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        if "$" in names:
            raise TypeError(f"{name}: a field named '$'")
        # Filled in after this class's own coders are registered: a class may hold itself.
        encoders: list[tuple[str, Encoder]] = []
        # Fields declared str, int or bool are read in one go when their JSON is of that type
        # (a str field may also hold a reference to a long string: then one by one).
        plain = [field for field in names if hints[field] in _AS_IS]
        plain_types = tuple(_AS_IS[hints[field]] for field in plain)
        plain_decoders: list[tuple[str, Decoder]] = []
        other_decoders: list[tuple[str, Decoder]] = []
        get_plain = _getter(plain)
        size = len(names) + 1
        new = object.__new__

        def encode(value: Any, strings: _Strings) -> Any:
            if type(value) is not cls:
                raise EncodeError(f"{name} expected, got {type(value).__name__}")
            result = {"$": name}
            for field, encode_field in encoders:
                result[field] = encode_field(getattr(value, field), strings)
            return result

        def decode(value: Any, strings: list[str]) -> Any:
            if type(value) is not dict or len(value) != size or value.get("$") != name:
                raise _bad(_unlike(name, names, value))
            try:
                found = get_plain(value)
                if tuple(map(type, found)) == plain_types:
                    state = dict(zip(plain, found))
                else:
                    state = {f: d(x, strings) for (f, d), x in zip(plain_decoders, found)}
                for field, decode_field in other_decoders:
                    state[field] = decode_field(value[field], strings)
            except KeyError:
                raise _bad(_unlike(name, names, value)) from None
            # As unpickling does: the fields are set without running __init__ (a dataclass's
            # __init__ only sets them), so a frozen class is built as fast as a plain one.
            made: Any = new(cls)
            made.__dict__.update(state)
            return made

        self._coders[cls] = (encode, decode)
        for field in names:
            encode_field, decode_field = self._coder(hints[field])
            encoders.append((field, encode_field))
            (plain_decoders if field in plain else other_decoders).append((field, decode_field))
        return encode, decode

    def _union(self, members: tuple[Any, ...]) -> tuple[Encoder, Decoder]:
        others = [m for m in members if m is not type(None)]
        if len(others) == 1:
            inner = self._coder(others[0])
            return _optional(inner) if len(others) < len(members) else inner
        # Members are told apart by the JSON they are written as: a dataclass by its name,
        # anything else by its JSON type, which must then be one member's alone.
        by_tag: dict[str, Decoder] = {}
        by_json: dict[type, Decoder] = {}
        encoders: dict[type, Encoder] = {}
        for member in others:
            encode_member, decode_member = self._coder(member)
            if isinstance(member, type) and dataclasses.is_dataclass(member):
                by_tag[member.__name__] = decode_member
                encoders[member] = encode_member
                continue
            json_types = _JSON_TYPES.get(member)
            if json_types is None or any(t in by_json for t in json_types):
                raise TypeError(f"cannot tell the members of {members!r} apart")
            for json_type in json_types:
                by_json[json_type] = decode_member
            encoders[member] = encode_member
        if by_tag and dict in by_json:
            raise TypeError(f"cannot tell the members of {members!r} apart")
        optional = len(others) < len(members)

        def encode(value: Any, strings: _Strings) -> Any:
            if value is None and optional:
                return None
            encode_member = encoders.get(type(value))
            if encode_member is None:
                raise EncodeError(f"{type(value).__name__} is not one of {members!r}")
            return encode_member(value, strings)

        def decode(value: Any, strings: list[str]) -> Any:
            if value is None and optional:
                return None
            if type(value) is dict and by_tag:
                tagged = by_tag.get(str(value.get("$")))
                if tagged is not None:
                    return tagged(value, strings)
            decode_member = by_json.get(type(value))
            if decode_member is None:
                raise _bad(f"none of {[_type_name(m) for m in members]}: {str(value)[:60]}")
            return decode_member(value, strings)

        return encode, decode

    def _root_coder(self) -> tuple[Encoder, Decoder]:
        if self._root is None:
            self._root = self._coder(self.root)
        return self._root

    # --- entries ----------------------------------------------------------------------------
    def encode(self, value: T) -> bytes:
        """``value`` as an entry; EncodeError when it holds what would not read back equal."""
        strings = _Strings()
        try:
            tree = self._root_coder()[0](value, strings)
            header = json.dumps(
                {
                    "root": self.root.__name__,
                    "strings": [len(b) for b in strings.blobs],
                    "value": tree,
                },
                ensure_ascii=False,
                allow_nan=False,
                separators=(",", ":"),
            ).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError) as exc:  # NaN, a lone surrogate
            raise EncodeError(str(exc)) from None
        return b"".join([MAGIC, header, b"\n", *strings.blobs])

    def decode(self, data: bytes) -> T:
        """The value of an entry ``encode`` wrote; DecodeError for anything else."""
        if not data.startswith(MAGIC):
            raise DecodeError("not slo cache data of this format")
        end = data.find(b"\n", len(MAGIC))
        if end < 0:
            raise DecodeError("truncated")
        try:
            text = str(data[len(MAGIC) : end], "utf-8")
            if _SURROGATE.search(text):
                raise DecodeError("a string holds half a UTF-16 pair, which encode never writes")
            header = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
            raise DecodeError(f"unreadable: {exc}") from None
        if type(header) is not dict or set(header) != {"root", "strings", "value"}:
            raise DecodeError("not slo cache data of this format")
        if header["root"] != self.root.__name__:
            raise DecodeError(f"holds a {str(header['root'])[:40]}, not a {self.root.__name__}")
        table = _strings(header["strings"], memoryview(data)[end + 1 :])
        try:
            value = self._root_coder()[1](header["value"], table)
        except DecodeError:
            raise
        except RecursionError:
            raise DecodeError("nested too deep") from None
        except Exception as exc:  # a value no check above foresaw: still only data, still a miss
            raise DecodeError(f"unreadable: {type(exc).__name__}: {exc}") from None
        return typing.cast(T, value)


_JSON_TYPES: dict[Any, tuple[type, ...]] = {
    str: (str, int),  # a long one is a reference into the string table
    int: (int,),
    bool: (bool,),
    float: (float,),
    Decimal: (str,),
}


# The declared types whose JSON value of that type is the value itself (other JSON types still go
# through the decoder, which checks them: a str field may hold a reference to a long string).
_AS_IS: dict[Any, type] = {str: str, int: int, bool: bool}


def _getter(fields: list[str]) -> Callable[[dict], tuple]:
    """``lambda d: tuple(d[f] for f in fields)``, in C where it can be."""
    if len(fields) > 1:
        return operator.itemgetter(*fields)
    if fields:
        (field,) = fields
        return lambda d: (d[field],)
    return lambda d: ()


def _unlike(name: str, names: list[str], value: Any) -> str:
    """Why ``value`` is not the JSON of a ``name`` with fields ``names``."""
    if type(value) is not dict or value.get("$") != name:
        return f"{name} expected, got {str(value)[:60]}"
    extra = sorted(set(value) - set(names) - {"$"})
    missing = sorted(set(names) - set(value))
    return f"{name}: unknown fields {extra}, missing fields {missing}"


# A \uD800 to \uDFFF escape (after an even number of backslashes, so not an escaped backslash
# followed by "uD800"): the text would hold a lone surrogate, which no UTF-8 file can; written
# to out/ it would fail. encode writes non-ASCII as UTF-8, so it never writes one.
_SURROGATE = re.compile(r"(?<!\\)(?:\\\\)*\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _no_constant(name: str) -> Any:
    raise DecodeError(f"{name} is not a value this format writes")


def _strings(lengths: Any, blob: memoryview) -> list[str]:
    if type(lengths) is not list or any(type(n) is not int or n < 0 for n in lengths):
        raise DecodeError("bad string table")
    if sum(lengths) != len(blob):
        raise DecodeError(f"truncated or padded: {len(blob)} bytes of strings, not {sum(lengths)}")
    table = []
    start = 0
    try:
        for length in lengths:
            table.append(str(blob[start : start + length], "utf-8"))
            start += length
    except UnicodeDecodeError:
        raise DecodeError("a string is not UTF-8") from None
    return table
