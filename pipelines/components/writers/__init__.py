"""Components that write embedded passages into the DocQA index (the last step of the indexing pipeline)."""
