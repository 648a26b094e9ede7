"""Deepfake face detector evaluation library: data, model, inference, metrics, training.

Streamlit-free except ``core.ui`` (the dashboard's shared sidebar and cache wrappers).
"""
