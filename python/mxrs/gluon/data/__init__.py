"""Datasets and data loading for Gluon, as ``mxnet.gluon.data``."""

from mxrs.gluon.data import dataloader, dataset, sampler, vision
from mxrs.gluon.data.dataloader import DataLoader
from mxrs.gluon.data.dataset import ArrayDataset, Dataset, RecordFileDataset, SimpleDataset
from mxrs.gluon.data.sampler import BatchSampler, FilterSampler, RandomSampler, Sampler, SequentialSampler

__all__ = [
    "dataset",
    "sampler",
    "dataloader",
    "vision",
    "Dataset",
    "SimpleDataset",
    "ArrayDataset",
    "RecordFileDataset",
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "FilterSampler",
    "BatchSampler",
    "DataLoader",
]
