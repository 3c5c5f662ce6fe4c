"""The documentation site builds without warnings and every page is in
the navigation; the README's links point at existing files."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(__file__))


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip('mkdocs')
    site = tmp_path / 'site'
    proc = subprocess.run(
        [sys.executable, '-m', 'mkdocs', 'build', '--strict', '--site-dir',
         str(site)],
        cwd=ROOT, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert 'WARNING' not in output, output
    for page in ('get_started', 'datasets', 'configs', 'cluster_contrast',
                 'mmt', 'gds', 'custom_components', 'distributed', 'tools',
                 'faq'):
        assert (site / page / 'index.html').is_file(), page


def test_every_doc_page_is_in_the_nav():
    with open(osp.join(ROOT, 'mkdocs.yml')) as f:
        nav = f.read()
    pages = [name for name in os.listdir(osp.join(ROOT, 'docs'))
             if name.endswith('.md')]
    missing = [p for p in pages if p not in nav]
    assert not missing, f'add {missing} to the nav in mkdocs.yml'


def test_readme_links_exist():
    with open(osp.join(ROOT, 'README.md')) as f:
        text = f.read()
    links = re.findall(r'\]\(([^)#]+)(?:#[^)]*)?\)', text)
    local = [link for link in links if '://' not in link]
    assert any(link.startswith('docs/') for link in local)
    broken = [link for link in local if not osp.exists(osp.join(ROOT, link))]
    assert not broken, broken
