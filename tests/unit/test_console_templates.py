"""The web console's static data (functions/console/static/, docs/console.md): the service
editor's segment templates build valid composite services, and the German and English dictionaries
hold the same keys, every key the pages use, and the same placeholders per text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from calbridge.domain.models import PausePolicy, Service

STATIC = Path(__file__).parents[2] / "functions/console/static"
TEMPLATES = json.loads((STATIC / "templates.json").read_text(encoding="utf-8"))["templates"]
DICTIONARIES = {
    lang: json.loads((STATIC / f"i18n/{lang}.json").read_text(encoding="utf-8")) for lang in ("de", "en")
}
SOURCES = {
    path.relative_to(STATIC).as_posix(): path.read_text(encoding="utf-8")
    for path in sorted(STATIC.rglob("*.js"))
}
INDEX = (STATIC / "index.html").read_text(encoding="utf-8")
FIXTURE = json.loads(
    (Path(__file__).parents[2] / "local/fixtures/salon_demo.json").read_text(encoding="utf-8")
)


def segment_key(index: int) -> str:
    """As pages/services.js segmentKey: A, B, C, ... by position."""
    letter = chr(65 + index % 26)
    return letter if index < 26 else f"{letter}{index // 26}"


def service_from(template: dict, lang: str) -> Service:
    """What the editor sends for a template (PUT services/{id}): keys by position, the last segment
    without a pause, duration = durations and pauses."""
    segments = template["segments"]
    body = {
        "company_id": "salon-demo",
        "service_id": f"tpl-{template['id']}",
        "name": template["name"][lang],
        "composite": True,
        "pause_policy": template["pause_policy"],
        "segments": [
            {
                "key": segment_key(i),
                "name": s["name"][lang],
                "duration": s["duration"],
                "gap_after": s.get("gap_after", 0) if i < len(segments) - 1 else 0,
            }
            for i, s in enumerate(segments)
        ],
        "duration": sum(
            s["duration"] + (s.get("gap_after", 0) if i < len(segments) - 1 else 0)
            for i, s in enumerate(segments)
        ),
    }
    return Service.model_validate(body)


def test_five_templates_with_unique_ids():
    ids = [t["id"] for t in TEMPLATES]
    assert len(ids) == 5
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["id"])
def test_template_builds_a_valid_composite_service(template, lang):
    service = service_from(template, lang)
    assert service.composite
    assert service.pause_policy in PausePolicy
    assert [s.key for s in service.segments] == [segment_key(i) for i in range(len(template["segments"]))]
    assert service.duration == sum(s.duration + s.gap_after for s in service.segments)
    assert service.gap_minutes > 0, "a template without a pause needs no segments"
    # the template itself never puts a pause after its last segment (the editor would drop it silently)
    assert template["segments"][-1].get("gap_after", 0) == 0


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["id"])
def test_template_names_in_both_languages(template):
    for named in [template, *template["segments"]]:
        assert set(named["name"]) == {"de", "en"}
        assert all(text.strip() for text in named["name"].values())


def test_templates_of_the_demo_services_match_the_fixture():
    """Ansatzfärbung (177) and Herrenhaarschnitt (42) as the demo salon has them."""
    demo = {s["service_id"]: s for s in FIXTURE["services"]}
    by_name = {t["name"]["de"]: t for t in TEMPLATES}
    for service_id in ("177", "42"):
        fixture = demo[service_id]
        template = by_name[fixture["name"]]
        service = service_from(template, "de")
        assert service.pause_policy == fixture["pause_policy"]
        assert service.duration == fixture["duration"]
        assert [(s.name, s.duration, s.gap_after) for s in service.segments] == [
            (s["name"], s["duration"], s.get("gap_after", 0)) for s in fixture["segments"]
        ]


def test_dictionaries_have_the_same_keys():
    de, en = DICTIONARIES["de"], DICTIONARIES["en"]
    assert sorted(set(de) - set(en)) == [], "only in de.json"
    assert sorted(set(en) - set(de)) == [], "only in en.json"


def test_dictionaries_have_the_same_placeholders_and_no_empty_text():
    for key, english in DICTIONARIES["en"].items():
        german = DICTIONARIES["de"][key]
        assert english.strip() and german.strip(), key
        assert set(re.findall(r"\{(\w+)\}", english)) == set(re.findall(r"\{(\w+)\}", german)), key


def used_keys() -> set[str]:
    """Every literal key of t('…') in the modules, data-i18n / data-i18n-attr in index.html, and the
    keys the pages build from fixed lists (nav.<page>, policy.<policy>…)."""
    keys: set[str] = set()
    for source in SOURCES.values():
        keys |= set(re.findall(r"\bt\(\s*'([a-z_0-9]+\.[a-z_0-9.]+)'", source))
    keys |= set(re.findall(r'data-i18n="([^"]+)"', INDEX))
    keys |= {
        pair.split(":")[1]
        for attr in re.findall(r'data-i18n-attr="([^"]+)"', INDEX)
        for pair in attr.split(";")
    }
    pages = re.findall(
        r"'(\w+)'", re.search(r"export const PAGES = \[([^\]]+)\]", SOURCES["app.js"]).group(1)
    )
    keys |= {f"nav.{page}" for page in pages}
    keys |= {f"policy.{p.value}" for p in PausePolicy} | {f"policy.{p.value}_explained" for p in PausePolicy}
    keys |= {
        f"requests.{kind}_{status}"
        for kind in ("status", "empty", "caption")
        for status in ("open", "settled")
    }
    keys |= {f"settings.language_{lang}" for lang in ("de", "en")}
    keys |= {f"settings.credential_{c}" for c in ("platform", "own")}
    return keys


def test_every_key_the_pages_use_is_in_both_dictionaries():
    keys = used_keys()
    assert len(keys) > 100  # the parse found the pages' keys
    for lang, dictionary in DICTIONARIES.items():
        assert sorted(k for k in keys if k not in dictionary) == [], f"missing in {lang}.json"


def test_settings_labels_exist_for_every_company_setting():
    """settings.js labels each setting (and the names PATCH answers in `changed`) by settings.<name>.
    COMPANY_SETTINGS is read from its module's text: importing it needs the stack's environment."""
    source = (
        Path(__file__).parents[2] / "layers/calbridge/calbridge/adapters/store/repositories.py"
    ).read_text()
    settings = re.findall(r'"(\w+)"', re.search(r"COMPANY_SETTINGS = \(([^)]*)\)", source).group(1))
    assert "opening_hours" in settings
    for lang, dictionary in DICTIONARIES.items():
        assert sorted(f"settings.{n}" for n in settings if f"settings.{n}" not in dictionary) == [], lang


def test_no_markup_from_data_and_no_inline_handlers():
    """XSS and CSP: pages build the DOM with textContent (ui.js h()), never innerHTML; index.html has
    no inline script, style or event handler attributes; no third-party script."""
    for name, source in SOURCES.items():
        assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", source), name
        assert not re.search(r"\beval\(|new Function\(", source), name
        assert not re.search(r"https?://", source), name
    assert not re.search(r"\son[a-z]+\s*=", INDEX)
    assert not re.search(r"<script(?![^>]*\bsrc=)", INDEX)
    assert not re.search(r"\sstyle\s*=|<style", INDEX)
    assert not re.search(r"https?://", INDEX)
