"""The DAG sync plan: what to fetch and delete, decided from a listing and a manifest."""

from __future__ import annotations

from emulator.watcher.plan import dag_prefix, keys_to_paths, plan_sync, relative_path


def test_new_changed_and_missing_files_are_fetched_unchanged_ones_not() -> None:
    listing = {"a.py": "e1", "sub/b.py": "e2", "c.sql": "e3", "gone-locally.py": "e4"}
    manifest = {"a.py": "e1", "sub/b.py": "old", "gone-locally.py": "e4"}
    present = {"a.py", "sub/b.py"}
    plan = plan_sync(listing, manifest, present)
    assert plan.fetch == ["c.sql", "gone-locally.py", "sub/b.py"]
    assert plan.delete == []


def test_only_files_the_watcher_wrote_are_deleted() -> None:
    plan = plan_sync({"keep.py": "e"}, {"keep.py": "e", "removed.py": "x"}, {"keep.py"})
    assert plan.delete == ["removed.py"]
    # A file Airflow or a user made (not in the manifest) is never planned for deletion.
    assert plan_sync({}, {}, {"__pycache__/x.pyc"}).empty


def test_an_empty_listing_deletes_what_was_synced() -> None:
    # Only ever called with a complete listing: an empty bucket really is empty.
    plan = plan_sync({}, {"a.py": "e", "sub/b.py": "e"}, {"a.py", "sub/b.py"})
    assert plan.delete == ["a.py", "sub/b.py"]


def test_prefix_and_relative_paths() -> None:
    assert dag_prefix("dags") == dag_prefix("dags/") == dag_prefix("/dags/") == "dags/"
    assert relative_path("dags/sub/x.py", "dags/") == "sub/x.py"
    assert relative_path("dags/", "dags/") is None  # folder marker
    assert relative_path("dags/sub/", "dags/") is None
    assert relative_path("other/x.py", "dags/") is None
    assert relative_path("dags/../escape.py", "dags/") is None
    assert relative_path("dags//x.py", "dags/") is None


def test_unsafe_keys_and_file_folder_clashes_are_skipped_with_a_reason() -> None:
    paths, skipped = keys_to_paths(
        {
            "dags/ok.py": "1",
            "dags/../../etc/passwd": "2",
            "dags/x": "3",
            "dags/x/y.py": "4",
            "dags/folder/": "5",
        },
        "dags/",
    )
    assert paths == {"ok.py": "1", "x/y.py": "4"}
    assert set(skipped) == {"dags/../../etc/passwd", "dags/x"}
    assert "leave the dags folder" in skipped["dags/../../etc/passwd"]
