from __future__ import annotations

import base64
import re

import pytest

from bitscale.report.html import SECTIONS, write_report
from bitscale.sweep.study import analyze, build_report, load_analysis


@pytest.mark.slow
def test_report_is_self_contained_and_says_what_is_missing(tiny_folder):
    analysis = analyze(tiny_folder, bootstrap=0)
    assert set(analysis.fits) == {"kumar-neff", "kumar-ptq", "eff-per-precision"} - set(analysis.errors)
    page_path = write_report(tiny_folder, analysis, None)
    page = page_path.read_text()
    for sid, title in SECTIONS:
        assert f'<section id="{sid}">' in page
    # no external resources: every image is an embedded PNG that decodes
    assert not re.search(r'src="(?!data:image/png;base64,)', page)
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(imgs) >= 4
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in imgs)
    # the tiny sweep has no STE/denoise pairs and no theory run: the page says so
    est = page.split('<section id="estimators">')[1].split("</section>")[0]
    assert "has no run pairs trained with both STE and the denoising estimator" in est
    theory = page.split('<section id="theory">')[1].split("</section>")[0]
    assert "the theory experiment was not run" in theory
    runs = page.split('<section id="runs">')[1].split("</section>")[0]
    assert runs.count('class="l done"') == 6
    assert (tiny_folder / "plots" / "loss_vs_N.png").exists()

    # `bitscale report`: rebuilt from the store and the saved fits, nothing refitted
    saved = load_analysis(tiny_folder)
    first = {k: f.params for k, f in saved.fits.items()}
    path = build_report(tiny_folder)
    again = load_analysis(tiny_folder)
    assert {k: f.params for k, f in again.fits.items()} == first  # nothing was refitted
    assert path.name == "report.html" and path.stat().st_size > 10_000
