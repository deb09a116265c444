"""Wire schemas of the API (pydantic), one module per API family."""
