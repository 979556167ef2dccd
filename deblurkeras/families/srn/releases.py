"""The released SRN-DeblurNet checkpoints, as plain data (read by deblurkeras.releases).

The official way to get them (jiangsutx/SRN-Deblur, checkpoints/download_model.sh) fetched srndeblur_models.zip
from the authors' website; that address answers 404 since February 2025 (SRN-Deblur issue #58). The three
checkpoints (step 523000) survive committed in git in mrglaster/G2SConverter at commit
7d7a99f2d0c0aaddf59e1841356a704a0985c13e, under checkpoints/{color,gray,lstm}/; the .meta graphs there are the
official graphs (the project's SRN reproduces them). The .index / .meta sha256 and sizes were recomputed from a
fetched copy of that commit and agree with ../shared/RELEASES.md.

The .data files are on record only by their git blob id (SHA-1 of "blob <size>\\0" + content, what `git
hash-object` prints), which proves every byte once the file is in hand. Their sizes are not on record; the sizes
below are derived, and they cap every read: a TF bundle's data shard is its tensors' bytes back to back (the
BundleWriter aligns nothing by default), and the sha256-verified .index lists the tensors: 84 / 84 / 86 float32
tensors, 27,525,004 / 27,505,796 / 32,226,436 bytes, which is 4 bytes times the registered parameter counts
(6,881,251 / 6,876,449 / 8,056,609; deblurkeras.families.srn). A file of any other size cannot have the blob id
(the size is hashed into it), so nothing right is refused by the cap.
"""
REPO = "mrglaster/G2SConverter"
COMMIT = "7d7a99f2d0c0aaddf59e1841356a704a0985c13e"
URLS = ("https://raw.githubusercontent.com/{repo}/{commit}/{path}", "https://github.com/{repo}/raw/{commit}/{path}")
LICENSE = ("none stated (no LICENSE file in jiangsutx/SRN-Deblur, the authors' repository, nor in "
           "mrglaster/G2SConverter at this commit)")
IMPORTER = "tf1"
OFFICIAL = ("official: http://www.xtao.website/shared_url/srndeblur_models.zip (jiangsutx/SRN-Deblur "
            "checkpoints/download_model.sh), 404 since February 2025 (SRN-Deblur #58)")
PREFIX = "deblur.model-523000"

FILES = {
    "checkpoints/color": (
        (PREFIX + ".data-00000-of-00001", 27525004, "git-blob:fb1db1b0df1d862f701214a2c6f7f4cca984839b"),
        (PREFIX + ".index", 3541, "41fa0d804a8103b5951d17d0fbdf97bc3b3e1932dfb85eeaf69427f42aa952ff"),
        (PREFIX + ".meta", 1308535, "e020ff37b23371d9800187d24f809df08977def8ab547fc9209a5afa6e2e1f3b"),
    ),
    "checkpoints/gray": (
        (PREFIX + ".data-00000-of-00001", 27505796, "git-blob:a09aeb9dc0e2b1db30ddddeb6773c63ddad3ffc6"),
        (PREFIX + ".index", 3540, "fe4da7770f5c8d38307cc688df5bf5d3faa506486670c64cc4c465a5458a4cc4"),
        (PREFIX + ".meta", 1320903, "749ac76eff338063af8b74381a06452270177d7539d1d5d327ee39ca69d5c928"),
    ),
    "checkpoints/lstm": (
        (PREFIX + ".data-00000-of-00001", 32226436, "git-blob:86021df5468126d1747352178e75ddea6351a3a8"),
        (PREFIX + ".index", 3662, "dec84132aaa4ce9f4799030c63ea983e89dcb372488831a4351fa1bbcfb2324b"),
        (PREFIX + ".meta", 1394841, "b46c5821824aa3f0ea35f2b43b05e35a4a4e9b8244962ca0e2ac1617d5a62161"),
    ),
}

_GOPRO = "GoPro: paper 30.26 dB / SSIM 0.9342 (the lstm model); "
# `load`: what the TF1 importer is given inside the folder (the checkpoint prefix)
RELEASES = (
    dict(model="srn-color", tag="gopro", folder="checkpoints/color", load=PREFIX, note=OFFICIAL,
         reproduces=_GOPRO + "a user measured the released colour model at 30.25 dB (GoPro), 27.06 (Kohler)"),
    dict(model="srn-gray", tag="gopro", folder="checkpoints/gray", load=PREFIX, note=OFFICIAL,
         reproduces=_GOPRO + "the gray model runs each RGB channel as its own image"),
    dict(model="srn-lstm", tag="gopro", folder="checkpoints/lstm", load=PREFIX, note=OFFICIAL,
         reproduces=_GOPRO + "README of the original: 30.19 / 0.9334 (MATLAB psnr/ssim)"),
)
