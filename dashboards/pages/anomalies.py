"""Anomalies (being built)."""

import streamlit as st

st.title("Anomalies")
