"""Ed25519 signing keys: where they live, how they are made, how they are loaded.

Private keys live in one folder outside any git work tree (``$PEDATA_KEYS_DIR``, else
``$XDG_CONFIG_HOME/pedata/keys``, else ``~/.config/pedata/keys``), one ``<name>.key`` (PKCS#8
PEM, mode 0600) and ``<name>.pub`` (SubjectPublicKeyInfo PEM) per key. A keyid is the sha256 hex
of the raw 32-byte public key, so anyone can recompute it from the ``public`` field of a root.
Nothing here ever prints or embeds private key material in a message.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dvc_pedata.base import atomic
from dvc_pedata.errors import NotFoundError, PedataError
from dvc_pedata.model.names import check_name
from dvc_pedata.model.names import short as short_digest

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from dvc_pedata.model.documents import Root

KEYID_RE = re.compile(r"^[0-9a-f]{64}\Z")
_HEX_PUBLIC_RE = re.compile(r"^[0-9a-f]{64}\Z")


class KeyFileError(PedataError):
    """A key that cannot be made, found or used (wrong permissions, wrong format, collision)."""


def keys_dir() -> Path:
    """The keys folder: ``$PEDATA_KEYS_DIR``, ``$XDG_CONFIG_HOME/pedata/keys`` or ``~/.config/pedata/keys``."""
    explicit = os.environ.get("PEDATA_KEYS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "pedata" / "keys"


def keyid_of(public_raw: bytes) -> str:
    """sha256 hex of the raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_raw).hexdigest()


def short(keyid: str) -> str:
    """The first hex digits of a keyid: enough to tell keys apart in messages."""
    return short_digest(keyid)


@dataclass(frozen=True)
class PublicKey:
    """A verifying key: its keyid, raw public key as hex, and a human name if known."""

    keyid: str
    public: str
    name: str | None = None

    @classmethod
    def from_hex(cls, public_hex: str, name: str | None = None) -> PublicKey:
        if not _HEX_PUBLIC_RE.match(public_hex):
            raise KeyFileError(f"invalid Ed25519 public key {public_hex[:16]!r}...: expected 64 hex digits")
        return cls(keyid_of(bytes.fromhex(public_hex)), public_hex, name)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True if ``signature`` is a valid Ed25519 signature of ``data`` by this key."""
        # cryptography (15 MB) loads only where a key signs or verifies: never in publish or a warm get
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public)).verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def root_entry(self) -> dict[str, str]:
        """The ``keys`` entry of a trust root for this key."""
        entry = {"keytype": "ed25519", "scheme": "ed25519", "public": self.public}
        if self.name:
            entry["name"] = self.name
        return entry


class Signer:
    """A loaded private key. Its repr and every message name only the key, never its bytes."""

    def __init__(self, private: Ed25519PrivateKey, name: str | None, path: Path | None = None) -> None:
        # cryptography (15 MB) loads only where a key signs or verifies: never in publish or a warm get
        from cryptography.hazmat.primitives import serialization

        self._private = private
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public = PublicKey(keyid_of(raw), raw.hex(), name)
        self.path = path

    @property
    def keyid(self) -> str:
        return self.public.keyid

    @property
    def name(self) -> str | None:
        return self.public.name

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def __repr__(self) -> str:
        return f"<Signer {self.name or '?'} {short(self.keyid)}>"

    def label(self) -> str:
        """``name (id12)`` for messages."""
        return f"{self.name} ({short(self.keyid)})" if self.name else short(self.keyid)


@dataclass(frozen=True)
class KeyInfo:
    """What ``key generate`` and ``key list`` report about one key in the keys folder."""

    name: str
    keyid: str
    public: str
    private_path: str | None
    public_path: str | None
    mode: str | None  # of the private key file, e.g. "0600"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "keyid": self.keyid,
            "public": self.public,
            "private_key": self.private_path,
            "public_key": self.public_path,
            "mode": self.mode,
        }


# -- keeping keys out of repositories ------------------------------------------------------------
_DUBIOUS = "detected dubious ownership in repository at '"


def _work_tree_holding(folder: Path) -> Path | None:
    """The git work tree that ``folder`` (resolved; if it does not exist yet, its nearest existing
    parent) lies inside, or None. Asks git itself (``rev-parse --show-toplevel``), so a keys
    folder in *any* repository is found, not only in the one the command runs from."""
    import subprocess

    probe = folder.expanduser().resolve()
    while not probe.is_dir():
        if probe.parent == probe:
            return None
        probe = probe.parent
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES")}
    env.update(GIT_DISCOVERY_ACROSS_FILESYSTEM="1", LC_ALL="C", GIT_TERMINAL_PROMPT="0")
    try:
        proc = subprocess.run(["git", "-C", str(probe), "rev-parse", "--show-toplevel"], capture_output=True, env=env)
    except OSError:  # no git at all: nothing can be committed either
        return None
    if proc.returncode == 0 and proc.stdout.strip():
        return Path(os.fsdecode(proc.stdout.strip())).resolve()
    err = proc.stderr.decode("utf-8", "replace")
    if _DUBIOUS in err:  # a repository owned by someone else is still a repository
        return Path(err.split(_DUBIOUS, 1)[1].split("'", 1)[0])
    return None  # not a repository, or inside a .git folder / bare repository (nothing to commit)


def _refuse_inside_work_tree(folder: Path, what: str = "keys folder") -> None:
    """Private keys must never be one ``git add .`` away from being published."""
    top = _work_tree_holding(folder)
    if top is not None:
        raise KeyFileError(
            f"{what} {folder.expanduser().resolve()} is inside the git work tree {top}; private keys must never be "
            "committed (keep them in a folder outside any repository, e.g. set PEDATA_KEYS_DIR)"
        )


# -- generating ---------------------------------------------------------------------------------
def _ensure_keys_dir(folder: Path) -> None:
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
    elif not folder.is_dir():
        raise KeyFileError(f"keys folder {folder} is not a folder")


def generate(name: str, folder: Path | None = None) -> KeyInfo:
    """Make a new Ed25519 pair ``<name>.key`` (0600) / ``<name>.pub`` and return its info.

    Files appear whole or not at all (written to a temporary name, then hard-linked, which
    refuses an existing name atomically), and an existing key of that name is never replaced.
    A keys folder inside any git work tree is refused before anything is written.
    """
    check_name(name, "key name")
    folder = Path(folder) if folder is not None else keys_dir()
    _refuse_inside_work_tree(folder)
    _ensure_keys_dir(folder)
    key_path, pub_path = folder / f"{name}.key", folder / f"{name}.pub"
    for p in (key_path, pub_path):
        if p.exists() or p.is_symlink():
            raise KeyFileError(f"a key named {name!r} already exists ({p}); choose another name")
    # cryptography (15 MB) loads only where a key signs or verifies: never in publish or a warm get
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pub_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if not atomic.create_exclusive(key_path, pem, mode=0o600):
        raise KeyFileError(f"a key named {name!r} already exists ({key_path}); choose another name")
    if not atomic.create_exclusive(pub_path, pub_pem, mode=0o644):
        key_path.unlink()
        raise KeyFileError(f"a key named {name!r} already exists ({pub_path}); choose another name")
    signer = Signer(private, name, key_path)
    return KeyInfo(name, signer.keyid, signer.public.public, str(key_path), str(pub_path), "0600")


# -- loading ------------------------------------------------------------------------------------
def _looks_like_path(ref: str, suffixes: tuple[str, ...]) -> bool:
    return os.sep in ref or "/" in ref or ref.endswith(suffixes)


def _private_path(ref: str) -> Path:
    """Where the private key ``ref`` (a name in the keys folder, or a path) is."""
    if os.sep in ref or "/" in ref:
        p = Path(ref).expanduser()
        return p.with_suffix(".key") if p.suffix == ".pub" else p
    p = Path(ref)
    if p.suffix in (".key", ".pem", ".pub"):
        candidate = p.with_suffix(".key") if p.suffix == ".pub" else p
        if candidate.exists():
            return candidate
        ref = p.stem
    check_name(ref, "key name")
    return keys_dir() / f"{ref}.key"


def _check_private_mode(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"private key {path} is readable by others (mode {mode:04o}); chmod 600 it")


def _read_private(path: Path) -> Ed25519PrivateKey:
    # cryptography (15 MB) loads only where a key signs or verifies: never in publish or a warm get
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise KeyFileError(f"{path} is a folder, not a private key") from None
    except PermissionError:
        raise KeyFileError(f"cannot read private key {path}: permission denied") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(f"private key {path} is encrypted; pedata needs an unencrypted Ed25519 key") from None
    except Exception:  # never echo the bytes: they may be key material
        raise KeyFileError(f"{path} is not a PEM Ed25519 private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return key


def _name_of(path: Path) -> str | None:
    stem = path.stem
    try:
        return check_name(stem, "key name")
    except PedataError:
        return None


def find_signer(ref: str) -> Signer | None:
    """The private key ``ref`` if one exists locally, else None.

    Refused (before its bytes are read): a key readable by others, and a key whose folder lies
    inside a git work tree (one ``git add`` from being published).
    """
    path = _private_path(ref)
    if not path.exists():
        return None
    _refuse_inside_work_tree(path.parent, "private key folder")
    _check_private_mode(path)
    return Signer(_read_private(path), _name_of(path), path)


def load_signer(ref: str) -> Signer:
    """Load a private key by name (in the keys folder) or by path, refusing unsafe permissions."""
    if not ref:
        raise KeyFileError("empty key name")
    signer = find_signer(ref)
    if signer is None:
        path = _private_path(ref)
        if path.parent == keys_dir() and not (os.sep in ref or "/" in ref):
            # A new key signs nothing until the trust root gives it a role, so "generate it" is
            # the wrong advice on its own: name the keys that are here, and what a new one needs.
            here = sorted(p.stem for p in keys_dir().glob("*.key")) if keys_dir().is_dir() else []
            have = f"keys there: {', '.join(here)}" if here else "no keys there yet"
            role = (f"; {path.stem!r} is a role, not a key: pass the name of a key that holds it"
                    if path.stem in ("root", "promoter", "certifier", "revoker") else "")
            raise NotFoundError(
                f"no private key {path.stem!r} in {keys_dir()} ({have}){role}; a new key "
                f"('pedata key generate NAME') signs only once the trust root gives it the role "
                f"('pedata trust add-key ROLE NAME --sign ROOTKEY')"
            )
        raise NotFoundError(f"no private key at {path}")
    return signer


def _read_public(path: Path) -> PublicKey:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise KeyFileError(f"{path} is a folder, not a public key") from None
    text = data.decode("ascii", "replace").strip()
    if _HEX_PUBLIC_RE.match(text):
        return PublicKey.from_hex(text, _name_of(path))
    # cryptography (15 MB) loads only where a key signs or verifies: never in publish or a warm get
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(data)
    except Exception:
        raise KeyFileError(f"{path} is not a PEM Ed25519 public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PublicKey(keyid_of(raw), raw.hex(), _name_of(path))


def load_public(ref: str, root: Root | None = None) -> PublicKey:
    """A public key from a keyid in ``root``, a ``.pub`` path, or a key name.

    Names are looked up as ``<name>.pub`` (or ``<name>.key``) in the keys folder, then as the
    ``name`` recorded for a key in ``root``, so a maintainer can refer to a colleague's key
    whose files they do not have.
    """
    if not ref:
        raise KeyFileError("empty key name")
    root_keys: dict[str, dict[str, str]] = dict(root.keys) if root is not None else {}
    if KEYID_RE.match(ref):
        if ref in root_keys:
            return PublicKey(ref, root_keys[ref]["public"], root_keys[ref].get("name"))
        raise NotFoundError(f"keyid {short(ref)} is not in the trust root")
    if _looks_like_path(ref, (".pub", ".key", ".pem")):
        p = Path(ref).expanduser()
        if p.exists():
            if p.suffix == ".pub":
                return _read_public(p)
            signer = find_signer(str(p))
            assert signer is not None
            return signer.public
        if os.sep in ref or "/" in ref:
            raise NotFoundError(f"no key at {p}")
        ref = ref.rsplit(".", 1)[0]
    check_name(ref, "key name")
    pub = keys_dir() / f"{ref}.pub"
    if pub.exists():
        return _read_public(pub)
    signer = find_signer(ref)
    if signer is not None:
        return signer.public
    named = [kid for kid, entry in root_keys.items() if entry.get("name") == ref]
    if len(named) == 1:
        return PublicKey(named[0], root_keys[named[0]]["public"], ref)
    if len(named) > 1:
        raise KeyFileError(f"key name {ref!r} is ambiguous in the trust root; use its keyid")
    raise NotFoundError(f"no key {ref!r} in {keys_dir()} or in the trust root")


def list_keys(folder: Path | None = None) -> list[KeyInfo]:
    """Every key in the keys folder (by name), with whether its private half is present."""
    folder = Path(folder) if folder is not None else keys_dir()
    if not folder.is_dir():
        return []
    names = sorted({p.stem for p in folder.iterdir() if p.suffix in (".key", ".pub")})
    out: list[KeyInfo] = []
    for name in names:
        key_path, pub_path = folder / f"{name}.key", folder / f"{name}.pub"
        mode = f"{stat.S_IMODE(key_path.stat().st_mode):04o}" if key_path.exists() else None
        try:
            if pub_path.exists():
                pk = _read_public(pub_path)
            else:
                pk = Signer(_read_private(key_path), name).public
        except PedataError:
            continue  # not a key we can read: list only what can be used
        out.append(
            KeyInfo(
                name,
                pk.keyid,
                pk.public,
                str(key_path) if key_path.exists() else None,
                str(pub_path) if pub_path.exists() else None,
                mode,
            )
        )
    return out
