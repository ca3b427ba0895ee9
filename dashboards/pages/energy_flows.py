"""Energy flows (being built)."""

import streamlit as st

st.title("Energy flows")
