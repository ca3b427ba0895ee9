"""Certificates (being built)."""

import streamlit as st

st.title("Certificates")
