"""How much one feedback may hold: shared by the store's validation, the HTTP schema and the page.

A module of its own (no imports) so that the service's request schema and the Streamlit page can use
the same bounds as :mod:`docqa.pipelines.feedback.store` without importing Haystack.
"""

MAX_QUESTION_CHARS = 1000  # the same bound as /ask's question
MAX_ANSWER_CHARS = 1000
MAX_COMMENT_CHARS = 2000
MAX_PASSAGE_ID_CHARS = 200
MAX_PAGE_LIMIT = 500  # records per page of GET /feedback and DocQA.feedback_records
VERDICTS = ("correct", "wrong", "not_in_documents")
