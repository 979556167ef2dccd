"""The SR tutorial's checkpoints (sgrvinod/a-PyTorch-Tutorial-to-Super-Resolution), as plain data (read by
deblurkeras.releases).

The tutorial's README ("Model Checkpoints") links a Google Drive *folder* holding checkpoint_srresnet.pth.tar and
checkpoint_srgan.pth.tar: a folder link is not a file URL and no hash is on record, so both releases are manual:
`deblurkeras weights fetch srresnet-x4:coco` says where to get the file and `--from FILE` takes the user's copy.
With no hash to prove it, a copy is taken as given: its sha256 is recorded in the cache, and the strict importer
(torch.load weights_only=True, every tensor named) is the check. The tutorial's files pickle whole modules, which
weights_only refuses: the import error says how to re-save them as state_dicts in the original environment.
"""
REPO = "sgrvinod/a-PyTorch-Tutorial-to-Super-Resolution"
COMMIT = None
URLS = ()
LICENSE = "MIT (LICENSE of sgrvinod/a-PyTorch-Tutorial-to-Super-Resolution)"
IMPORTER = "torch"
WHERE = ("the tutorial's README, 'Model Checkpoints': Google Drive folder "
         "https://drive.google.com/drive/folders/12OG-KawSFFs6Pah89V4a_Td-VcwMBE5i")

FILES = {
    "": (("checkpoint_srresnet.pth.tar", None, None), ("checkpoint_srgan.pth.tar", None, None)),
}

RELEASES = (
    dict(model="srresnet-x4", tag="coco", folder="", manual=True, note=WHERE,
         files=(FILES[""][0],), load="checkpoint_srresnet.pth.tar",
         reproduces="the paper's SRResNet x4 (Y channel): Set5 32.05 / 0.9019, Set14 28.49, BSD100 27.58 "
                    "(trained on MSCOCO 2014 by the tutorial)"),
    dict(model="srgan-x4", tag="coco", folder="", manual=True, note=WHERE,
         files=(FILES[""][1],), load="checkpoint_srgan.pth.tar",
         reproduces="the paper's SRGAN x4 (Y channel): Set5 29.40 / 0.8472, Set14 26.02, BSD100 25.16"),
)
