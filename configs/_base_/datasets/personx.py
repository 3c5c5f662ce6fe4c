_base_ = ['./person_reid.py']

# Expected layout: docs/datasets.md (reidkit never downloads data).
_dataset = dict(type='PersonX', data_root='data/personx')
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = val_dataloader
