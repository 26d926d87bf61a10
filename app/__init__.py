"""EDMS Workbench: semantic, layered image compression."""

__version__ = "0.1.0"
