"""Scope 2 (being built)."""

import streamlit as st

st.title("Scope 2")
