"""The Streamlit dashboard: the system's real state, read from the database and the API."""
