import re

import pytest

from compiler.core.model import Matcher
from compiler.targets.promtool import humanize
from compiler.targets.promtool.render import UnknownAction, bind, render
from compiler.targets.promtool.synth import matches, regex_examples, satisfy


@pytest.mark.parametrize(
    "pattern",
    ["5..", "2xx|3xx", "(500|503)", ".+", "[45]..", "api|web", "\\d+", "[^5].*", "a{3}b?"],
)
def test_regex_examples_really_match(pattern):
    examples = regex_examples(pattern)
    assert examples
    assert all(re.fullmatch(pattern, e) for e in examples)


def test_satisfy_and_avoid():
    sel = (Matcher("job", "=", "api"), Matcher("code", "=~", "5.."))
    bad = satisfy(sel)
    assert bad == {"code": "500", "job": "api"}
    good = satisfy((Matcher("job", "=", "api"),), avoid=sel)
    assert good["job"] == "api" and not matches(sel[1], good.get("code", ""))
    assert satisfy((Matcher("a", "=", "x"), Matcher("a", "!=", "x"))) is None


def test_humanize_twins_match_prometheus_outputs():
    # outputs recorded from Prometheus 2.42's template engine
    assert humanize.humanize_percentage(0.256) == "25.6%"
    assert humanize.humanize_duration(3700) == "1h 1m 40s"
    assert humanize.humanize_duration(0.5) == "500ms"
    assert humanize.humanize_duration(90061) == "1d 1h 1m 1s"
    assert humanize.humanize_1024(1048576) == "1Mi"
    assert humanize.go_g4(0.5) == "0.5"


def test_render_refuses_unknown_actions():
    assert render('a {{ "{{" }} b }}', None, {}) == "a {{ b }}"
    assert (
        render("{{ with $labels.instance }} on {{ . }}{{ end }}", None, {"instance": "h1"})
        == " on h1"
    )
    assert render("{{ with $labels.instance }} on {{ . }}{{ end }}", None, {}) == ""
    # a label's value as it is (a grouped SLO's alerts name their group so), "" when absent
    assert render("[region={{ $labels.region }}]", None, {"region": "{{ x"}) == "[region={{ x]"
    assert render("[region={{ $labels.region }}]", None, {}) == "[region=]"
    with pytest.raises(UnknownAction):
        render("{{ $labels.job | toUpper }}", 1.0, {})


def test_a_bound_template_renders_each_value_it_is_given():
    # what the promtool tests do with an alert's annotations: labels bound once, many values
    template = (
        "{{ with $labels.instance }}{{ . }}: {{ end }}{{ $value | humanizePercentage }} "
        '{{ "{{" }}x}} {{ $value | humanizeDuration }}'
    )
    bound = bind(template, {"instance": "h1"})
    assert bound(0.5) == "h1: 50% {{x}} 500ms"
    assert bound(90061.0) == "h1: 9.006e+06% {{x}} 1d 1h 1m 1s"
    assert bound(0.5) == render(template, 0.5, {"instance": "h1"})
    with pytest.raises(UnknownAction):
        bound(None)
    assert bind("no actions", {})(None) == "no actions"
