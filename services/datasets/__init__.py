"""Character datasets: ingestion, dedup, local triage, vision review, review decisions and feedback."""

from services.datasets.browse import TRIAGE_FLAGS, DatasetBrowser, ImagePage, ImageQuery, StateCounts
from services.datasets.categories import CATEGORY_BY_KEY, DUPLICATE, REJECTION_CATEGORIES, RejectionCategory
from services.datasets.curation import REVIEW_JOB, Curation, CurationSummary
from services.datasets.decisions import ReviewDecisions, Verdict
from services.datasets.events import ImageAdded, ImageDecided, ImagesReassigned
from services.datasets.feedback import Feedback, LearnedNegatives
from services.datasets.ingest import INGEST_KINDS, Ingestion, IngestJobHandler, UploadedFile
from services.datasets.review_job import VisionReviewJobHandler
from services.datasets.store import Admission, DatasetStore, NewImage
from services.datasets.thumbnails import THUMBS_FOLDER, THUMBS_URL, thumbnail_url
from services.datasets.triage import LocalTriage

__all__ = [
    "CATEGORY_BY_KEY",
    "DUPLICATE",
    "INGEST_KINDS",
    "REJECTION_CATEGORIES",
    "REVIEW_JOB",
    "THUMBS_FOLDER",
    "THUMBS_URL",
    "TRIAGE_FLAGS",
    "Admission",
    "Curation",
    "CurationSummary",
    "DatasetBrowser",
    "DatasetStore",
    "Feedback",
    "ImageAdded",
    "ImageDecided",
    "ImagePage",
    "ImageQuery",
    "ImagesReassigned",
    "IngestJobHandler",
    "Ingestion",
    "LearnedNegatives",
    "LocalTriage",
    "NewImage",
    "RejectionCategory",
    "ReviewDecisions",
    "StateCounts",
    "UploadedFile",
    "Verdict",
    "VisionReviewJobHandler",
    "thumbnail_url",
]
