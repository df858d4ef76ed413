"""Source movies: finding them in the movies folder and choosing each scene's audio track.

Lookup indexes the movies folder once (one recursive walk) and answers each
row's movie name, episode code or explicit path from memory; no path may leave
the folder. Probing lives in :mod:`megacut.probe`; its names are re-exported here.
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable

from megacut.errors import SourceError, SourceLookupError  # noqa: F401  (SourceError re-exported)
from megacut.plan.probe import AudioTrack, SourceInfo, probe_source, probe_sources  # noqa: F401  (re-exported)

VIDEO_EXTENSIONS = (".mkv", ".mp4", ".m4v", ".mov", ".avi", ".webm", ".ts", ".mpg")

# ---------------------------------------------------------------- languages

_OLD_BIBLIOGRAPHIC = {"scc": "srp", "scr": "hrv"}
_NO_LANGUAGE = {"", "und", "unknown", "undefined", "undetermined", "none"}


def _build_language_map() -> dict[str, str]:
    codes: dict[str, str] = dict(_OLD_BIBLIOGRAPHIC)
    text = resources.files("megacut").joinpath("data/languages.txt").read_text(encoding="utf-8")
    tokens = [token for line in text.splitlines() if not line.startswith("#") for token in line.split()]
    for two, bib, term, names in zip(tokens[0::4], tokens[1::4], tokens[2::4], tokens[3::4]):
        aliases = [two, bib, term] + ([] if names == "-" else names.split(","))
        for alias in aliases:
            if alias != "-":
                codes.setdefault(alias, term)
    return codes


_LANGUAGE_CODES = _build_language_map()


def normalize_language(code: str) -> str | None:
    """One canonical ISO 639-2/T code for a language tag: "en", "eng", "en-US" -> "eng"; "fre" -> "fra".

    Case-insensitive; a region or script after "-" or "_" is dropped; English
    names ("French") are accepted. Unknown codes come back lower-cased as they
    are; an empty tag or "und" gives None.
    """
    text = (code or "").strip().casefold().replace("_", "-")
    primary = text.split("-", 1)[0].strip()
    if primary in _NO_LANGUAGE:
        return None
    return _LANGUAGE_CODES.get(primary, primary)


# ------------------------------------------------------------- audio choice


def _first_title_match(tracks: tuple[AudioTrack, ...], title: str) -> AudioTrack | None:
    wanted = title.casefold()
    return next((t for t in tracks if t.title and wanted in t.title.casefold()), None)


def _first_language_match(tracks: tuple[AudioTrack, ...], language: str) -> AudioTrack | None:
    wanted = normalize_language(language)
    matches = [t for t in tracks if t.language and normalize_language(t.language) == wanted]
    return next((t for t in matches if t.default), matches[0] if matches else None)


def choose_audio_track(info: SourceInfo, *, title: str | None = None, language: str | None = None
                       ) -> tuple[AudioTrack | None, list[str]]:
    """The audio track to use: by title substring, else by language, else the default track.

    Returns (track, warnings); a requested title or language that is not there
    falls back to the next rule with a warning. A source without audio gives None.
    """
    title = (title or "").strip() or None
    language = (language or "").strip() or None
    tracks = info.audio_tracks
    name = info.path.name
    if not tracks:
        if title is None and language is None:
            return None, []
        return None, [f"{name} has no audio track (asked for {_request(title, language)}); "
                      "the scene will be silent"]
    missed = []
    if title is not None:
        track = _first_title_match(tracks, title)
        if track is not None:
            return track, []
        missed.append(f'titled "{title}"')
    chosen, how = None, "the default track"
    if language is not None:
        chosen = _first_language_match(tracks, language)
        if chosen is None:
            missed.append(f'in language "{language}"')
        how = f'chosen by language "{language}"'
    if chosen is None:
        chosen, how = info.default_audio, "the default track"
    if not missed:
        return chosen, []
    listing = ", ".join(t.label() for t in tracks)
    return chosen, [f"no audio track {' or '.join(missed)} in {name} (tracks: {listing}); "
                    f"using track {_label_body(chosen)}, {how}"]


def _label_body(track: AudioTrack) -> str:
    """``#1 (eng "Main")`` for messages."""
    number, _, rest = track.label().partition(" ")
    return f"{number} {rest}" if rest.startswith("(") else f"{number} ({rest})"


def _request(title: str | None, language: str | None) -> str:
    wanted = ([f'title "{title}"'] if title else []) + ([f'language "{language}"'] if language else [])
    return " and ".join(wanted)


# ------------------------------------------------------------- movie lookup

_APOSTROPHES = str.maketrans("", "", "'\u2019`\u00b4")
_BRACKETS_RE = re.compile(r"\[[^\]]*\]|\([^)]*\)|\{[^}]*\}")
_TAGS_RE = re.compile(r"\[[^\]]*\]|\{[^}]*\}")
_YEAR = r"(?:18[89]\d|19\d\d|20\d\d)"
_SEP = r"[\s._-]"
# The title ends at the first year in brackets, else at the last bare year that tags follow; a year
# at the start ("2001 A Space Odyssey") or alone at the end ("Blade Runner 2049") is part of the title.
_TITLE_YEAR_FORMS = (
    re.compile(rf"^(?P<title>.*?[^\s._-].*?)[\s_-]*[(\[](?P<year>{_YEAR})[)\]]"),
    re.compile(rf"^(?P<title>.*[^\s._-]){_SEP}+(?P<year>{_YEAR}){_SEP}+[^\s._-]"),
)
_TRAILING_YEAR_RE = re.compile(rf"^(?P<title>.*[^\s._-]){_SEP}+(?P<year>{_YEAR})$")
_SEASON_EPISODE_FORMS = (
    re.compile(r"^s(\d{1,3})\s*e(\d{1,4})$", re.IGNORECASE),
    re.compile(r"^(\d{1,3})x(\d{1,4})$", re.IGNORECASE),
    re.compile(r"^(\d{1,3})\.(\d{1,4})$"),
)
ACCEPTED_EPISODE_FORMS = "3.19, S03E19, s3e19, 3x19 or 03x19"


def loose_key(text: str) -> str:
    """Case-folded words of ``text``: accents, apostrophes and punctuation dropped, "_.-" as spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(re.findall(r"[^\W_]+", plain.translate(_APOSTROPHES)))


def _without_brackets(text: str) -> str:
    return _BRACKETS_RE.sub(" ", text)


def _without_extension(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return stem if dot and f".{extension.lower()}" in VIDEO_EXTENSIONS else name


def title_and_year(name: str) -> tuple[str, str | None]:
    """A movie name or file name as (title, release year or None).

    "Silent Planet (1955) 4x3.mp4" -> ("Silent Planet", "1955"); "The.Kid.1921.720p.BluRay.x264-GROUP.mp4"
    -> ("The Kid", "1921"). The video extension, the year and all after it, and [tags] go; dots or
    underscores between words become spaces when the title has no spaces.
    """
    title, year = _without_extension(name.strip()), None
    for form in _TITLE_YEAR_FORMS:
        match = form.match(title)
        if match:
            title, year = match["title"], match["year"]
            break
    title = " ".join(_TAGS_RE.sub(" ", title).split())
    if " " not in title:
        title = " ".join(re.split(r"[._]+", title))
    return title.strip(" -") or _without_extension(name.strip()), year


def movie_title(name: str) -> str:
    """The title a movie name or file name stands for (see :func:`title_and_year`)."""
    return title_and_year(name)[0]


def _title_readings(name: str) -> set[tuple[str, str | None]]:
    """(title, year) readings of a name; "Thor 2011" is also read as "Thor" of 2011."""
    title, year = title_and_year(name)
    readings = {(title, year)}
    trailing = _TRAILING_YEAR_RE.match(title) if year is None else None
    if trailing:
        readings.add((trailing["title"], trailing["year"]))
    return readings


def _title_keys(name: str, readings: Iterable[tuple[str, str | None]] | None = None
                ) -> frozenset[tuple[str, str | None]]:
    """(loose title, year) readings of a name (``readings``: its :func:`_title_readings`, when known)."""
    readings = _title_readings(name) if readings is None else readings
    return frozenset((key, y) for t, y in readings if (key := loose_key(_without_brackets(t))))


# ------------------------------------------------- forgiving title rules
# Where scene lists and libraries write the same title differently. Each rule rewrites a title's loose
# words the same way on both sides, so a rule can make two files alike (then the name is ambiguous and
# says so) but never makes a title equal to another one that differs in a word or a number.

_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10}


def _roman(word: str) -> int | None:
    """1 to 39 for a roman numeral word ("ii", "xiv"), else None."""
    if not word or not re.fullmatch(r"x{0,3}(ix|iv|v?i{0,3})", word):
        return None
    values = [_ROMAN_VALUES[ch] for ch in word]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


_NUMBERED = ("part", "chapter", "episode", "vol", "book")


def _arabic_sequels(words: list[str]) -> list[str]:
    """Roman sequel numbers as arabic ones where a roman numeral plainly is one: a numeral of two letters or
    more after the first word ("Rocky II", "Star Trek II The Wrath of Khan"), "V" or "X" ending a title
    ("Rocky V"), "I" after Part, Chapter, Episode, Vol or Book. A first word ("X Men", "I Robot") stays."""
    out = []
    for at, word in enumerate(words):
        value = _roman(word) if at else None
        if value and len(word) == 1:
            last = at == len(words) - 1
            value = value if (word != "i" and last) or words[at - 1] in _NUMBERED else None
        out.append(str(value) if value else word)
    return out


FORGIVING_RULES: dict[str, str] = {
    "and": '"&" as "and"',
    "volume": '"Volume" and "Vol." alike',
    "the": 'a leading "The" left out',
    "numbers": "roman sequel numbers as arabic (II as 2)",
    "spacing": "words joined or hyphenated alike (Spiderman, Spider-Man)",
}


def forgiving_key(title: str, rules=tuple(FORGIVING_RULES)) -> str:
    """``title``'s loose key rewritten by ``rules`` (names of :data:`FORGIVING_RULES`)."""
    text = _without_brackets(title)
    if "and" in rules:
        text = text.replace("&", " and ")
    words = loose_key(text).split()
    if "volume" in rules:
        words = ["vol" if w == "volume" else w for w in words]
    if "the" in rules and len(words) > 1 and words[0] == "the":
        words = words[1:]
    if "numbers" in rules:
        words = _arabic_sequels(words)
    return ("" if "spacing" in rules else " ").join(words)


def forgiving_rules_used(name: str, title: str) -> list[str]:
    """Which forgiving rules make ``name`` and ``title`` alike: those without which they differ."""
    everything = tuple(FORGIVING_RULES)
    return [rule for rule in everything
            if forgiving_key(name, tuple(r for r in everything if r != rule))
            != forgiving_key(title, tuple(r for r in everything if r != rule))]


def parse_season_episode(value: str) -> tuple[int, int]:
    """(season, episode) from "3.19", "S03E19", "s3e19", "3x19"; "3.10" is episode 10. Raises ValueError."""
    text = value.strip()
    for form in _SEASON_EPISODE_FORMS:
        match = form.match(text)
        if match:
            return int(match.group(1)), int(match.group(2))
    raise ValueError(f'season_episode "{value}" is not understood; write it as {ACCEPTED_EPISODE_FORMS} '
                     "(season 3, episode 19)")


def _episode_patterns(season: int, episode: int) -> tuple[re.Pattern, re.Pattern]:
    """(strong, dotted) patterns for one episode in a case-folded file name."""
    s, e = f"0*{season}", f"0*{episode}"
    strong = re.compile(rf"(?<![a-z0-9])s{s}[ ._-]?e{e}(?!\d)|(?<!\d){s}x{e}(?!\d)")
    dotted = re.compile(rf"(?<!\d)(?<!\d\.){s}\.{e}(?!\d)")
    return strong, dotted


@dataclass(frozen=True, slots=True)
class _Entry:
    """One indexed video file."""

    rel: str  # path relative to the root, "/"-separated
    name: str
    stem_cf: str
    loose: str  # loose key of the name without its extension
    title_keys: frozenset[tuple[str, str | None]]  # (loose title, year) readings
    titles: frozenset[tuple[str, str | None]]  # (title, year) readings, as written
    path_key: str  # loose key of the relative path without extension (folders included)

    @classmethod
    def make(cls, rel: str) -> _Entry:
        name = rel.rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0]
        titles = frozenset(_title_readings(name))
        return cls(rel=rel, name=name, stem_cf=stem.casefold(), loose=loose_key(stem),
                   title_keys=_title_keys(name, titles), titles=titles, path_key=loose_key(rel.rsplit(".", 1)[0]))


@dataclass(frozen=True, slots=True)
class Match:
    """The file a row names, and how it was found: ``rule`` is "" for the exact name or a path, else a few
    words for `megacut plan --rows`."""

    path: Path
    rule: str = ""


class MovieIndex:
    """Every video file under a movies folder, indexed once, for name, episode and path lookups."""

    def __init__(self, root: str | Path):
        given = Path(os.path.expanduser(os.fspath(root)))
        if not given.exists():
            raise SourceLookupError(f"movies folder not found: {given}")
        if not given.is_dir():
            raise SourceLookupError(f"movies folder is not a folder: {given}")
        self.root = Path(os.path.realpath(given))
        self._entries = tuple(_Entry.make(rel) for rel in _walk_videos(self.root))
        self._by_name = _group(self._entries, lambda e: [e.name])
        self._by_loose = _group(self._entries, lambda e: [e.loose])
        self._by_title = _group(self._entries, lambda e: [title for title, _ in e.title_keys])
        self._by_forgiving = _group(self._entries, lambda e: [forgiving_key(title) for title, _ in e.titles])
        self._memo: dict[tuple[str, str | None, str | None], Match | SourceLookupError] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, movie: str, *, season_episode: str | None = None, file: str | None = None) -> Path:
        """The one file meant by a CSV row; raises SourceLookupError saying what was looked for."""
        return self.match(movie, season_episode=season_episode, file=file).path

    def match(self, movie: str, *, season_episode: str | None = None, file: str | None = None) -> Match:
        """The one file meant by a CSV row and the rule that found it; raises SourceLookupError."""
        key = (movie, season_episode, file)
        hit = self._memo.get(key)
        if hit is None:
            try:
                hit = self._find(movie or "", (season_episode or "").strip() or None, (file or "").strip() or None)
            except SourceLookupError as exc:
                hit = exc
            self._memo[key] = hit
        if isinstance(hit, SourceLookupError):
            raise SourceLookupError(hit.what, hit.advice)
        return hit

    # -- the rules, in order

    def _find(self, movie: str, season_episode: str | None, file: str | None) -> Match:
        movie = movie.strip()
        if file:
            return Match(self._relative_path(file, "file"))
        if not movie:
            raise SourceLookupError("no movie name given; fill in the movie column (or the file column)")
        if _looks_like_path(movie):
            return Match(self._relative_path(movie, "movie"))
        found, rule = self._exact_name(movie), ""
        if found is None and season_episode:
            try:
                season, episode = parse_season_episode(season_episode)
            except ValueError as exc:
                raise SourceLookupError(str(exc)) from None
            found, rule = self._episode(movie, season, episode), f"episode S{season:02d}E{episode:02d}"
        elif found is None:
            found, rule = self._loose(movie)
        return Match(self._resolve(found), rule)

    def _exact_name(self, movie: str) -> _Entry | None:
        """The file named exactly ``movie``, byte for byte: the only match that wins over looser ones."""
        return self._one(self._by_name.get(movie, []), f'movie "{movie}"')

    def _loose(self, movie: str) -> tuple[_Entry, str]:
        """The one file ``movie`` matches in a looser way (case, punctuation, separators, extension, title);
        only when none does, the one its title matches by the forgiving rules. With the rule that matched."""
        by_name = self._by_loose.get(loose_key(_without_extension(movie)), [])
        candidates = {e.rel: e for e in by_name}
        for title, year in _title_keys(movie):
            for entry in self._by_title.get(title, []):
                if any(t == title and _same_year(year, y) for t, y in entry.title_keys):
                    candidates[entry.rel] = entry
        found = self._one(list(candidates.values()), f'movie "{movie}"')
        if found is not None:
            return found, ("case, punctuation or extension" if found in by_name else "title (year and [tags] aside)")
        return self._forgiving(movie)

    def _forgiving(self, movie: str) -> tuple[_Entry, str]:
        matched: dict[str, tuple[_Entry, str]] = {}
        for title, year in _title_readings(movie):
            key = forgiving_key(title)
            for entry in self._by_forgiving.get(key, []):
                for file_title, file_year in entry.titles:
                    if forgiving_key(file_title) == key and _same_year(year, file_year):
                        matched.setdefault(entry.rel, (entry, "; ".join(
                            FORGIVING_RULES[r] for r in forgiving_rules_used(title, file_title))))
        found = self._one([entry for entry, _ in matched.values()], f'movie "{movie}"')
        if found is None:
            raise self._not_found_error(movie)
        return found, matched[found.rel][1]

    def _episode(self, show: str, season: int, episode: int) -> _Entry:
        code = f"S{season:02d}E{episode:02d}"
        strong, dotted = _episode_patterns(season, episode)
        by_strong = [e for e in self._entries if strong.search(e.stem_cf)]
        with_code = by_strong or [e for e in self._entries if dotted.search(e.stem_cf)]
        of_show = _of_show(with_code, show)
        found = self._one(of_show, f'episode {code} of "{show}"')
        if found is not None:
            return found
        raise SourceLookupError(self._episode_not_found_message(show, season, episode, with_code))

    # -- helpers

    def _one(self, candidates: list[_Entry], what: str) -> _Entry | None:
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        listing = ", ".join(sorted(e.rel for e in candidates))
        raise SourceLookupError(f"{what} matches several files in {self.root}: {listing}; "
                                "put the one to use in the `file` column (its path relative to the movies folder)")

    def _resolve(self, entry: _Entry) -> Path:
        return self._relative_path(entry.rel, "file")

    def _relative_path(self, text: str, label: str) -> Path:
        """A path given relative to the root, refused when it is absolute or resolves outside the root."""
        raw = text.strip().replace("\\", "/")
        quoted = f'{label} "{text}"'
        if os.path.isabs(raw) or re.match(r"^[A-Za-z]:", raw):
            raise SourceLookupError(f"{quoted} is an absolute path, which may leave the movies folder; "
                                    f"give a path relative to {self.root}")
        full = os.path.realpath(os.path.join(self.root, raw))
        if not _inside(full, self.root):
            raise SourceLookupError(f"{quoted} leaves the movies folder (it resolves to {full}); "
                                    f"give a path relative to {self.root}")
        if not os.path.exists(full):
            raise SourceLookupError(f"{quoted} not found: there is no {os.path.join(self.root, raw)}; "
                                    f"give a path relative to {self.root}")
        if os.path.isdir(full):
            raise SourceLookupError(f"{quoted} is a folder, not a video file; give the file's path "
                                    f"relative to {self.root}")
        return Path(full)

    def _not_found_error(self, movie: str) -> SourceLookupError:
        names = {key: e.rel for e in self._entries for key, _ in e.title_keys}
        wanted = loose_key(_without_brackets(movie_title(movie)))
        close = difflib.get_close_matches(wanted, list(names), n=3, cutoff=0.6)
        quoted = ", ".join(f'"{names[key]}"' for key in close)
        suggestion = f"; did you mean {quoted}?" if close else "."
        return SourceLookupError(
            f'movie "{movie}" not found in {self.root}{suggestion}',
            f"(Searched {len(self._entries)} video files, subfolders included, by exact name and by a loose match "
            f"ignoring case, punctuation, the extension, [tags], a year with the release tags after it, spacing "
            f'and hyphens inside words, "&"/"and", "Vol."/"Volume", a leading "The" and roman sequel numbers.) '
            f"Check the name in the CSV, or give the file's path relative to the movies folder in the `file` "
            f"column.")

    def _episode_not_found_message(self, show: str, season: int, episode: int, with_code: list[_Entry]) -> str:
        code = f"S{season:02d}E{episode:02d}"
        of_show = _of_show(list(self._entries), show)
        if of_show:
            examples = ", ".join(sorted(e.rel for e in of_show)[:3])
            count = f"{len(of_show)} files match" if len(of_show) > 1 else "1 file matches"
            detail = f"{count} the show name (e.g. {examples}) but none carries {code}"
        elif with_code:
            examples = ", ".join(sorted(e.rel for e in with_code)[:3])
            detail = f"files with {code} in their name do not match the show name: {examples}"
        else:
            detail = "no file name carries that episode"
        return (f'episode {code} of "{show}" not found in {self.root}: looked for video files whose path '
                f"contains the show name and whose name contains {code}, {season}x{episode:02d} or "
                f"{season}.{episode}; {detail}. Check the CSV, or give the path relative to the movies folder "
                f"in the `file` column.")


def _same_year(wanted: str | None, found: str | None) -> bool:
    """A year given on one side only does not tell two titles apart; two different years do."""
    return wanted is None or found is None or wanted == found


def _walk_videos(root: Path) -> list[str]:
    """Relative "/"-separated paths of the video files under ``root`` (hidden entries skipped)."""
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        relative_folder = os.path.relpath(folder, root)
        for name in sorted(filenames):
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in VIDEO_EXTENSIONS:
                continue
            rel = name if relative_folder == "." else os.path.join(relative_folder, name)
            found.append(rel.replace(os.sep, "/"))
    return found


def _group(entries: Iterable[_Entry], keys) -> dict[str, list[_Entry]]:
    groups: dict[str, list[_Entry]] = {}
    for entry in entries:
        for key in keys(entry):
            if key:
                groups.setdefault(key, []).append(entry)
    return groups


def _of_show(entries: list[_Entry], show: str) -> list[_Entry]:
    """Entries whose relative path loosely contains the show name (word-bounded, else squeezed)."""
    names = {loose_key(show), loose_key(_without_brackets(show))} - {""}
    if not names:
        return []
    bounded = [e for e in entries if any(f" {n} " in f" {e.path_key} " for n in names)]
    if bounded:
        return bounded
    squeezed = {n.replace(" ", "") for n in names}
    return [e for e in entries if any(n in e.path_key.replace(" ", "") for n in squeezed)]


def _looks_like_path(movie: str) -> bool:
    return "/" in movie or "\\" in movie or os.path.isabs(movie)


def _inside(path: str, root: Path) -> bool:
    root_text = str(root)
    return path == root_text or path.startswith(root_text.rstrip(os.sep) + os.sep)
