"""Carbon (being built)."""

import streamlit as st

st.title("Carbon")
