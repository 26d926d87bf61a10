"""Qt workbench. Never imports torch: a worker owns models and devices."""
