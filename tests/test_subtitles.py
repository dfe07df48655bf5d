"""Subtitle files as users have them (dramaemo.footage.subtitles): real files in UTF-8, UTF-8
with a BOM, the legacy Korean encoding and Windows-1252; ASS and WebVTT; markup never
reaches the text; a file whose encoding cannot be told stops, naming itself."""

import codecs

import pytest

from dramaemo.core.errors import UserError
from dramaemo.core.subtitle_files import find_subtitles
from dramaemo.footage.subtitles import read_cues, text_at

KOREAN_SRT = """1
00:00:01,000 --> 00:00:03,000
장그래, 합격이야!

2
00:00:03,500 --> 00:00:05,000
<i>오상식 과장님이</i>
<font color="#ffff00">부르셨어요.</font>

3
00:00:06,000 --> 00:00:08,000
{\\an8}정말 고맙습니다.
"""
KOREAN_TEXT = ["장그래, 합격이야!", "오상식 과장님이 부르셨어요.", "정말 고맙습니다."]
FRENCH_SRT = """1
00:00:01,000 --> 00:00:03,000
C'est naïve, ton café.

2
00:00:03,500 --> 00:00:05,000
Où est l'été ?

3
00:00:06,000 --> 00:00:08,000
Déjà vu, garçon.
"""
FRENCH_TEXT = ["C'est naïve, ton café.", "Où est l'été ?", "Déjà vu, garçon."]
ASS = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:03.00,Default,,0,0,0,,{\\an8}{\\i1}장그래,{\\i0} 합격이야!
Comment: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,a translator's note
Dialogue: 0,0:00:03.50,0:00:05.00,Default,,0,0,0,,오상식 과장님이\\N부르셨어요.
Dialogue: 0,0:00:06.00,0:00:08.00,Default,,0,0,0,,{\\fs30\\c&H00FFFF&}정말 고맙습니다.
"""
VTT = """WEBVTT

00:00:01.000 --> 00:00:03.000 line:10%
<v Geu-rae>장그래, 합격이야!</v>

00:00:03.500 --> 00:00:05.000
<b>오상식 과장님이</b>
부르셨어요.

00:00:06.000 --> 00:00:08.000
정말 고맙습니다.
"""
MOMENTS = [0.5, 2.0, 4.0, 5.5, 7.0]


def texts(path, encoding="", language="en"):
    cues, used = read_cues(path, encoding=encoding, language=language)
    return [cue.text for cue in cues], used, text_at(cues, MOMENTS)


@pytest.mark.parametrize(
    "name, data, language, encoding, expected",
    [
        ("utf8.srt", KOREAN_SRT.encode("utf-8"), "en", "utf-8", KOREAN_TEXT),
        ("bom.srt", codecs.BOM_UTF8 + KOREAN_SRT.encode("utf-8"), "en", "utf-8-sig", KOREAN_TEXT),
        ("utf16.srt", KOREAN_SRT.encode("utf-16"), "en", "utf-16", KOREAN_TEXT),
        ("cp949.srt", KOREAN_SRT.encode("cp949"), "ko", "cp949", KOREAN_TEXT),
        ("euckr.srt", KOREAN_SRT.encode("euc_kr"), "ko", "cp949", KOREAN_TEXT),  # cp949 is its superset
        ("cp1252.srt", FRENCH_SRT.encode("cp1252"), "fr", "cp1252", FRENCH_TEXT),
    ],
)
def test_each_encoding_gives_the_right_text(tmp_path, name, data, language, encoding, expected):
    path = tmp_path / name
    path.write_bytes(data)
    found, used, _ = texts(path, language=language)
    assert found == expected and used == encoding


def test_ass_and_webvtt_are_read_without_markup(tmp_path):
    for name, text in (("ep.ass", ASS), ("ep.vtt", VTT), ("ep.srt", KOREAN_SRT)):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        found, _, at = texts(path)
        assert found == KOREAN_TEXT, name  # the ASS comment line is not a cue
        assert at == ["", KOREAN_TEXT[0], KOREAN_TEXT[1], "", KOREAN_TEXT[2]], name
        for cue_text in found:
            assert not any(mark in cue_text for mark in ("<", ">", "{", "}", "\\N", "\n")), (name, cue_text)
    cues, _ = read_cues(tmp_path / "ep.ass", encoding="", language="en")
    assert "{\\an8}" in cues[0].raw  # the cue as the file has it, kept beside the text


def test_an_undecidable_file_stops_naming_itself(tmp_path):
    korean = tmp_path / "ep01.srt"
    korean.write_bytes(KOREAN_SRT.encode("cp949"))
    # Korean bytes, config language English: cp1252 would read them as mojibake
    with pytest.raises(
        UserError,
        match=r"ep01\.srt: subtitles not UTF-8 and their encoding is not certain.*re-save it as UTF-8, or set index\.subtitles\.encoding",
    ):
        read_cues(korean, encoding="", language="en")
    # the fix the message names works
    assert texts(korean, encoding="cp949")[0] == KOREAN_TEXT
    with pytest.raises(UserError, match=r"ep01\.srt: not readable as utf-8 \(index\.subtitles\.encoding\)"):
        read_cues(korean, encoding="utf-8", language="ko")
    junk = tmp_path / "ep02.srt"
    junk.write_text("this is not a subtitle file at all\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"ep02\.srt: not a subtitle file pysubs2 reads"):
        read_cues(junk, encoding="", language="en")


def test_subtitle_files_found_by_format_and_language(tmp_path):
    video = tmp_path / "ep01.mp4"
    assert find_subtitles(video, "ko") is None
    (tmp_path / "ep01.en.vtt").touch()
    assert find_subtitles(video, "ko").name == "ep01.en.vtt"  # another language, when nothing else
    (tmp_path / "ep01.ko.ass").touch()
    assert find_subtitles(video, "ko").name == "ep01.ko.ass"  # the preferred language
    (tmp_path / "ep01.vtt").touch()
    assert find_subtitles(video, "ko").name == "ep01.vtt"  # the episode's own file first
    (tmp_path / "ep01.srt").touch()
    assert find_subtitles(video, "ko").name == "ep01.srt"  # SubRip before the others
