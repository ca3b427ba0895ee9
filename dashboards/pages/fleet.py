"""Fleet and V2G (being built)."""

import streamlit as st

st.title("Fleet and V2G")
