"""A shim for tools that still run ``setup.py`` (Beam's ``--setup_file=./setup.py``).

Everything lives in pyproject.toml, which setuptools reads; ``python setup.py --name``
prints ``tfgenre``.
"""

from setuptools import setup

setup()
