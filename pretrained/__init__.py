"""Pretrained microgen models (package data: one folder per model)."""
