"""ONNX export of trained networks: conversion, parity check, manifest, model card."""

from genkit.export.model_card import write_model_card
from genkit.export.onnx_export import export_networks

__all__ = ["export_networks", "write_model_card"]
