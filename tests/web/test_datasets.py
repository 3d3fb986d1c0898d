"""Dataset uploads (good and hostile), the data check result, images with captions, caption edits."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the [web] extra")
pytest.importorskip("sse_starlette", reason="the dashboard needs the [web] extra")

import io
import zipfile


from kohya_wrap.web.settings import MB, datasets_dir
from tests.web.conftest import csrf_of, make_client


def png(color=(200, 30, 30), size=(64, 48)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def zipped(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)  # a ZipInfo keeps names as given ('..', '/', '\\' too)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return buffer.getvalue()


def upload(client, files: list[tuple[str, bytes]], **fields):
    return client.post("/api/datasets", data={"name": "cats", **fields},
                       files=[("files", (name, data, "application/octet-stream")) for name, data in files])


def leftovers() -> list[str]:
    root = datasets_dir()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.is_dir() else []


def test_flat_files_become_a_prepared_dataset_with_its_check(client):
    answer = upload(client, [("a.png", png()), ("a.txt", b"ohwx, a red cat"), ("b.png", png((0, 90, 200)))],
                    token="ohwx", class_tokens="cat", repeats="5")
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["layout"].startswith("prepared") and made["files"] == 3
    assert (datasets_dir() / "cats" / "img" / "5_ohwx cat" / "a.png").read_bytes() == png()
    assert made["check"]["counts"]["error"] == 0
    assert made["check"]["subsets"][0]["num_repeats"] == 5
    listed = client.get("/api/datasets").json()["datasets"]
    assert listed == [{"name": "cats", "path": str(datasets_dir() / "cats"), "prepared": True, "images": 2,
                       "url": "/datasets/cats"}]
    assert not (datasets_dir() / ".uploads").exists() or not any((datasets_dir() / ".uploads").iterdir())


def test_a_zip_with_repeat_folders_is_kept_as_uploaded(client):
    archive = zipped({"mydata/10_ohwx dog/a.png": png(), "mydata/10_ohwx dog/a.txt": b"ohwx dog",
                      "__MACOSX/._a.png": b"junk", "mydata/.DS_Store": b"junk"})
    answer = upload(client, [("data.zip", archive)], name="dogs")
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["layout"].startswith("as uploaded") and made["files"] == 2
    assert sorted(made["skipped"]) == ["__MACOSX/._a.png", "mydata/.DS_Store"]
    assert (datasets_dir() / "dogs" / "10_ohwx dog" / "a.txt").read_bytes() == b"ohwx dog"
    detail = client.get("/api/datasets/dogs").json()
    assert detail["images"] == [{"image": "10_ohwx dog/a.png", "class_tokens": "ohwx dog", "caption": "ohwx dog",
                                 "caption_file": "10_ohwx dog/a.txt"}]
    assert detail["prepared"] is False


@pytest.mark.parametrize("members, symlinks, expected", [
    ({"../evil.png": png()}, None, "leaves the dataset folder"),
    ({"ok/../../evil.png": png()}, None, "leaves the dataset folder"),
    ({"..\\evil.png": png()}, None, "leaves the dataset folder"),
    ({"/etc/evil.png": png()}, None, "absolute path"),
    ({"C:/evil.png": png()}, None, "absolute path"),
    ({"a.png": png()}, {"link.png": "/etc/passwd"}, "symbolic link"),
    ({"a.png": b"this is no image at all"}, None, "not an image"),
    ({"a.png": png()[:60]}, None, "a.png"),
    ({"run.sh": b"#!/bin/sh\nrm -rf /\n"}, None, "not an image or a caption"),
    ({"a.txt": b"x" * (70 * 1024)}, None, "caption over 64 KB"),
])
def test_hostile_zips_are_refused_whole_and_leave_nothing(client, members, symlinks, expected):
    archive = zipped({"good.png": png(), **members}, symlinks)
    answer = upload(client, [("bad.zip", archive)], token="ohwx")
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"].startswith("Upload refused") and any(expected in p for p in body["problems"]), body
    assert leftovers() in ([], [".uploads"])  # nothing kept, not even the good file
    assert not (datasets_dir().parent / "evil.png").exists() and not (datasets_dir() / "evil.png").exists()


def test_every_problem_is_listed_at_once(client):
    files = [("a.png", b"not png"), ("b.exe", b"MZ"), ("c.png", png())]
    body = upload(client, files, token="ohwx").json()
    assert len(body["problems"]) == 2 and body["problems"][0].startswith("a.png")


def test_a_zip_that_unpacks_too_large_is_refused_before_unpacking(sqlite_registry):
    with make_client(sqlite_registry, max_upload_bytes=2 * MB) as small:
        small.headers["X-CSRF-Token"] = csrf_of(small)
        bomb = zipped({"a.txt": b"\0" * (5 * MB)})  # a few KB on the wire
        answer = upload(small, [("bomb.zip", bomb)], token="ohwx")
        assert answer.status_code == 400 and "unpacks to 5 MB" in answer.json()["problems"][0]
        big = upload(small, [("a.png", b"\0" * (3 * MB))], token="ohwx")
        assert big.status_code == 413
    assert leftovers() in ([], [".uploads"])


def test_names_and_clashes_are_checked(client):
    bad = upload(client, [("a.png", png())], name="../../etc", token="ohwx")
    assert bad.status_code == 400 and "dataset name" in bad.json()["problems"][0]
    assert upload(client, [("a.png", png())], token="ohwx").status_code == 201
    again = upload(client, [("a.png", png())], token="ohwx")
    assert again.status_code == 400 and "exists already" in again.json()["problems"][0]
    no_words = upload(client, [("a.png", png())], name="plain")
    assert no_words.status_code == 400 and "--token and/or --class" in no_words.json()["error"]
    assert client.post("/api/datasets", data={"name": "x"}).status_code == 400
    twice = upload(client, [("d/a.png", png()), ("d/a.png", png())], name="twice", token="ohwx")
    assert twice.status_code == 400 and "given twice" in twice.json()["problems"][0]


def test_images_are_served_only_from_the_scan(client):
    upload(client, [("a.png", png()), ("a.txt", b"ohwx cat")], token="ohwx")
    (datasets_dir() / "cats" / "notes.png").write_bytes(png())  # in the folder, but not a training image
    assert client.get("/datasets/cats/images/img/1_ohwx/a.png").content == png()
    for relative in ("notes.png", "kohya-wrap-prepare.json", "../../registry.db", "img/1_ohwx/a.txt"):
        assert client.get(f"/datasets/cats/images/{relative}").status_code == 404, relative
    assert client.get("/datasets/nope/images/a.png").status_code == 404


def test_caption_edit_in_a_prepared_dataset_is_atomic_and_escaped_on_the_page(client):
    upload(client, [("a.png", png()), ("a.txt", b"ohwx cat\nsecond line kept")], token="ohwx")
    caption = datasets_dir() / "cats" / "img" / "1_ohwx" / "a.txt"
    answer = client.post("/api/datasets/cats/captions", json={"image": "img/1_ohwx/a.png",
                                                              "caption": "ohwx <b>cat</b>\n on grass"})
    assert answer.status_code == 200 and answer.json() == {"image": "img/1_ohwx/a.png",
                                                          "caption": "ohwx <b>cat</b> on grass", "changed": True}
    assert caption.read_text() == "ohwx <b>cat</b> on grass\nsecond line kept"
    page = client.get("/datasets/cats").text
    assert "ohwx &lt;b&gt;cat&lt;/b&gt; on grass" in page and "<b>cat</b>" not in page
    missing = client.post("/api/datasets/cats/captions", json={"image": "../x.png", "caption": "x"})
    assert missing.status_code == 404


def test_captions_of_an_as_uploaded_dataset_are_not_edited(client):
    upload(client, [("d.zip", zipped({"10_ohwx/a.png": png(), "10_ohwx/a.txt": b"ohwx"}))], name="raw")
    answer = client.post("/api/datasets/raw/captions", json={"image": "10_ohwx/a.png", "caption": "changed"})
    assert answer.status_code == 400 and "left as they are" in answer.json()["error"]
    assert (datasets_dir() / "raw" / "10_ohwx" / "a.txt").read_bytes() == b"ohwx"


def test_dataset_page_shows_the_check(client):
    upload(client, [("a.png", png(size=(40, 40)))], token="ohwx")
    page = client.get("/datasets/cats")
    assert page.status_code == 200 and "Check" in page.text and 'id="findings"' in page.text
    assert client.get("/datasets/nope").status_code == 404
