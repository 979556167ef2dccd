"""The released DMPHN / Stack-DMPHN weights, as plain data (read by deblurkeras.releases).

Every file is committed in git in the authors' repository HongguangZhang/DMPHN-cvpr19-master at commit
9fff261daca8beb0cbaaa0b64df4239b5a05dd17 (folders checkpoints/DMPHN_1_2_4, DMPHN_1_2_4_8, SDNet2, SDNet3, SDNet4);
the sizes and sha256 below were recomputed from a fetched copy of that commit (`git show HEAD:PATH | sha256sum`) and
agree with ../shared/RELEASES.md. The URL of a file is the repository's raw file at that commit; github.com/raw
redirects to the same bytes (https). SDNet3 holds a fourth stack its SDNet3_test.py never loads: the release keeps
the folder whole (the importer says which files it left unused).
"""
REPO = "HongguangZhang/DMPHN-cvpr19-master"
COMMIT = "9fff261daca8beb0cbaaa0b64df4239b5a05dd17"
# {repo}, {commit}, {path}: filled per file by deblurkeras.releases (official raw file first, then github.com/raw)
URLS = ("https://raw.githubusercontent.com/{repo}/{commit}/{path}", "https://github.com/{repo}/raw/{commit}/{path}")
LICENSE = "none stated (no LICENSE file in the repository at this commit)"

# folder in the repository -> ((file name, size in bytes, sha256), ...)
FILES = {
    "checkpoints/DMPHN_1_2_4": (
        ("decoder_lv1.pkl", 3763929, "923fe68db2a9fb97c45082984e4371768f8d7d27824febcdd95615c3841e9824"),
        ("decoder_lv2.pkl", 3763929, "d324a23f676c624f68ed20cad13d5bca5fa3281922ab20383c4c4713138233d2"),
        ("decoder_lv3.pkl", 3763929, "652c12753b2eb15523cfdb0f1f280d0dd258aceb3464d9da637d2b6b5b1aa5bb"),
        ("encoder_lv1.pkl", 3477671, "64b21c627f67382b20d472689a4766c6426d1f3b11763e73cde0cd13270064e1"),
        ("encoder_lv2.pkl", 3477665, "816cdef4165ef81438da0c2226491b1a820ebbc1a3c3d175f56338111da7546d"),
        ("encoder_lv3.pkl", 3477667, "898f79b659fd4a4ea1b098d186d42345e6d5fd12ad1ea22eb785c3484f93aab2"),
    ),
    "checkpoints/DMPHN_1_2_4_8": (
        ("decoder_lv1.pkl", 3763929, "387a0ee8dd945052d069cdce6e6322ec9c93173896a28a72ac2be211bb0a78b2"),
        ("decoder_lv2.pkl", 3763929, "9ec171ef8513eb85598af0c150904dee1aafe2674416a1878a3f093752721c08"),
        ("decoder_lv3.pkl", 3763925, "aff3d672b9c81bc9067fe8e111f1901d9e78269fdb103c3f56d7690bec1aa740"),
        ("decoder_lv4.pkl", 3763927, "5f88c7117f902ce7087ba18fc2b4ec395680d2ad2e6ddc0931284c8e4f1c25e5"),
        ("encoder_lv1.pkl", 3477667, "938651e29071b661d59909b68d1772d590c3a7a7191cebee22b521dd78af84c0"),
        ("encoder_lv2.pkl", 3477667, "1357fd72cec9da556864bf3d1156879d154f40efb1b806547b713c4bf3877fa2"),
        ("encoder_lv3.pkl", 3477667, "c9864598889dca34503211e94978e056135d6ad9e8b7e297bf076665997a55ef"),
        ("encoder_lv4.pkl", 3477667, "01de21b48fc6b216c737acb3fe854ed085f68d93b498f7f0862872606e99f632"),
    ),
    "checkpoints/SDNet2": (
        ("decoder_s1_lv1.pkl", 3763933, "696d0771d1262d57281bec67904c78527cdcedf40779dadff95d3fe48fd4af8b"),
        ("decoder_s1_lv2.pkl", 3763981, "fc5b341da03b49d8132ad9fea4db3b276a0a7b25d42d1cc73edeb003df62fec5"),
        ("decoder_s1_lv3.pkl", 3764021, "e97af05886013d83fbce61ef800f3c0c2286c1258161b860f2f619091bfdb217"),
        ("decoder_s2_lv1.pkl", 3764049, "d8c71d85ba8750406a4adea5cdc773b23a336231025dec69bbd25ccd07c2c172"),
        ("decoder_s2_lv2.pkl", 3764049, "e099a83df6a2ae6240600674ead4e3b571c6be7a477b74cce51609d8b371146f"),
        ("decoder_s2_lv3.pkl", 3764049, "8f1c1100761b2b396971b82b47d38158878179b5933a4d6946f6dca55a72d124"),
        ("encoder_s1_lv1.pkl", 3477667, "b944cde0bf735bd3eddac6d75624f98245a8c69ffa72b0d093614518132b14d2"),
        ("encoder_s1_lv2.pkl", 3477755, "f230c76d19cb095251e70f766ee48edb6b084d68994e7064b084b6901e048f65"),
        ("encoder_s1_lv3.pkl", 3477763, "9b04c3e041de0047350ee5990bac448d4f0e87183ce8b239754c070e011989d4"),
        ("encoder_s2_lv1.pkl", 3477783, "5e3a516e3e0b9d3a4eec694f55bf123752d579daa823276534d1bf511dc09f51"),
        ("encoder_s2_lv2.pkl", 3477787, "67b7372f6286469e231623c8ce74dac5130eefe6f56bfbd9c10ff635e9eebe78"),
        ("encoder_s2_lv3.pkl", 3477787, "e3b9f65761713790f751c459dbef672db1f5dcd0a31e8ee1a8cabc79c51ad8ed"),
    ),
    "checkpoints/SDNet3": (
        ("decoder_s1_lv1.pkl", 3763929, "76485c93115f26a82c7f20dd456275305cb3d77fef734f604847ef02ddecf014"),
        ("decoder_s1_lv2.pkl", 3763953, "29995655b8b7ca6cb9b44bba16f5fc4b6e3ab8a9a6f905e867774db865031251"),
        ("decoder_s1_lv3.pkl", 3763993, "4ef77456dd6cf8844bc7334f82f4d96d6daa444f85fc6a043bb7b662588bb938"),
        ("decoder_s2_lv1.pkl", 3763969, "c4662fb63bfc66c24adac75c0a0e942b345a225615fe8206e6b40374cbac78ac"),
        ("decoder_s2_lv2.pkl", 3764017, "35bf3f932de8c8f98c8c8340605e9e3efccdfbd6e77c078f0c234c04658a5b00"),
        ("decoder_s2_lv3.pkl", 3764045, "050c4496aad3c77e871163f62f419f98c205adcc8a22dcdcc5e5131958479a91"),
        ("decoder_s3_lv1.pkl", 3764041, "f48e1b4eb1c1961302ffcd2c7fb72c8f37a8c16290a1a6c9304afb7fbd151bf5"),
        ("decoder_s3_lv2.pkl", 3764049, "a34b6b4c93b93beda17a830ca507c14336ecfe6d0a38c567e16498b4877b8041"),
        ("decoder_s3_lv3.pkl", 3764049, "6716fdd541e0218188957a4da7fac14f5bd5beed5660232f6cb8aac0622f4342"),
        ("decoder_s4_lv1.pkl", 3764049, "c6fcc9ae4b4621eb48095dd9ac0ea050128bb11d6049609bdfe116b409419e0c"),
        ("decoder_s4_lv2.pkl", 3764049, "e2930399d6ee4f761173523df2827ad9833033204dc02b1a5f1cdbd5d04f0e25"),
        ("decoder_s4_lv3.pkl", 3764041, "1aa8a5bc7cff4d0b3eb87e21295edc4213f764e35742bcec12633496b13ab1ee"),
        ("encoder_s1_lv1.pkl", 3477671, "33c5284bbde4bdfbe25b4bf97a269eb6c330b83b120743174d55a5d747a6edbb"),
        ("encoder_s1_lv2.pkl", 3477687, "b74ef54fd418ca9f723e75735b4b3b7c032ad28c75e28aaf5b1ca39b32938933"),
        ("encoder_s1_lv3.pkl", 3477779, "df47fbd996bd2dde2d1b9706235d5eb6a8b77d72cb0fb38a30bfeaee74d3a637"),
        ("encoder_s2_lv1.pkl", 3477755, "983379870011843375219dcc80f2660ddd7338f05e0c76e98be8205c878f3e16"),
        ("encoder_s2_lv2.pkl", 3477787, "df10658973ee67ca1d92f7ff8a4d4a50e28852331694205d74ab17158922f880"),
        ("encoder_s2_lv3.pkl", 3477783, "7660cbf35064de9b1bed0dc74f503ad0dbf6dc3f98b08989006789d6b16c50ee"),
        ("encoder_s3_lv1.pkl", 3477787, "14a4023e168ad959b263524be65c9b6903445836bb91468263b52270bbf2f85f"),
        ("encoder_s3_lv2.pkl", 3477787, "e6024609b72d93dbd4c1f6bbbdc5543a0da1f8d8633330bb13f4108552970c39"),
        ("encoder_s3_lv3.pkl", 3477787, "34888f5d31eda3ceba950227b2c972a83c21bffa1209b3d9704f60ad3364de84"),
        ("encoder_s4_lv1.pkl", 3477775, "8e36a6a72fdb477bb04febf7e3ac12d7424cfc14a40a02604ca8bb4b5227b5e1"),
        ("encoder_s4_lv2.pkl", 3477787, "db9dcefe1656415e76621b049130e56fe9279dcc4805c5aee3dd6514a14cdb20"),
        ("encoder_s4_lv3.pkl", 3477783, "31b02e884300c4e0e305500d4671d98c81084236ea8698ce3b7ce609631c1d80"),
    ),
    "checkpoints/SDNet4": (
        ("decoder_s1_lv1.pkl", 3763929, "742090cc26b80cb7e490632bc2a39a8a307d80bf4a1238d70d719d9b23a215f2"),
        ("decoder_s1_lv2.pkl", 3764021, "6b54f3a75747d78446457943f5d315ba265950d86454e0056dba9a83bce97556"),
        ("decoder_s1_lv3.pkl", 3764041, "d016d669a015edf6242e089082d1c55b885c53daba4b85118539dc741f2860e0"),
        ("decoder_s2_lv1.pkl", 3764037, "f41d84bb03d5ddee44c9e31d073d499c10892ebd2d3e50c14a4651556f2b890b"),
        ("decoder_s2_lv2.pkl", 3764025, "987694789a7c7de31835c9e60a32eb26d369d0036520a4d718710982d9ef4331"),
        ("decoder_s2_lv3.pkl", 3764045, "2d5f8419144d4fb4c32350e400a1c2daa94025109b45c56f1331a534606bd433"),
        ("decoder_s3_lv1.pkl", 3764049, "d1266e04a2a4e591e8cfa9975c054748eb2b0b9a059ffcc980882b3b803380cc"),
        ("decoder_s3_lv2.pkl", 3764045, "27c8d2d1dd45973fffda2b14c5143549b08e11b822535acd9530414e5e52a576"),
        ("decoder_s3_lv3.pkl", 3764041, "6c49f544d97bf4c2a9842e29605ec033b8409405be36956df350b2480aef9466"),
        ("decoder_s4_lv1.pkl", 3764045, "3c80b9565eb568ef799637c2e3e20cb6f4da063ad121da9ebdf77a9cd97aced5"),
        ("decoder_s4_lv2.pkl", 3764049, "a314cefb4f78803305cca94a5771c6ac61b826cdefbb52d9f2a7cb729e5297d8"),
        ("decoder_s4_lv3.pkl", 3764049, "0686bb91604e93325da35ce324936b40e2e23524549f02bf76f9613e87b21117"),
        ("encoder_s1_lv1.pkl", 3477667, "276842e365a2497ad4ad9861d55596490843c96dff5b0d6b629d1d01f20aa2d8"),
        ("encoder_s1_lv2.pkl", 3477715, "cffbbdd5856970bde6c26c8867344074edb535844f45ec71c64ec2c7c65d5841"),
        ("encoder_s1_lv3.pkl", 3477787, "985ec1ec43b6796aec17e9bcccf273a9ab16cece2db08df862edc103f56f0674"),
        ("encoder_s2_lv1.pkl", 3477751, "548ba90ba30e9652ae6ec690ed0c381a185f1f1e0c1f1f72e0dbf635b1910955"),
        ("encoder_s2_lv2.pkl", 3477787, "61aa3debb355872da328b22d3827ad2d81bd4baeb4b5deb90aefa01069913e36"),
        ("encoder_s2_lv3.pkl", 3477787, "8ba77263cfee954fc43d9f056f5bc682ae935d2b01e9cdebf6451f156bb83cbe"),
        ("encoder_s3_lv1.pkl", 3477787, "1bcf967ed2d504ed7f7575acafeaca8e817a831d00731a83d0694240760cf052"),
        ("encoder_s3_lv2.pkl", 3477787, "84ac41f13ae51914dfd4e27de5431484b4641340a9bd95fe4cf46afa6f38fa6d"),
        ("encoder_s3_lv3.pkl", 3477787, "58ba75c47591ceed26bf15a91a9be4a336e0d43c0e0c5a07fa777fe5a47f19a0"),
        ("encoder_s4_lv1.pkl", 3477787, "c99b84bd6ba701417bafd7e4307525930847eb9a78f9e3eb820514cc6589708b"),
        ("encoder_s4_lv2.pkl", 3477783, "4ae847b3d116b60d2e02129df57252a1d31751ec359fc498f24ef481eda49fa4"),
        ("encoder_s4_lv3.pkl", 3477779, "9cef6d621cdb977a622bbc8813ef4b7a038761975800bf3422ec11cd6a6e41ad"),
    ),
}

_REPRODUCE = "python experiments/reproduce_dmphn.py CHECKOUT --variants {variant}"
# One release per folder: (model, tag, folder, what it reproduces). Figures: the paper (GoPro PSNR) and README
# "Reproducing the authors' outputs" (this project's Keras port against the authors' test_results PNGs).
RELEASES = (
    dict(model="dmphn-1-2-4", tag="gopro", folder="checkpoints/DMPHN_1_2_4",
         reproduces="the authors' DMPHN_1_2_4_test.py outputs (test_results/DMPHN_1_2_4_test_res): 99.998% "
                    "identical values; " + _REPRODUCE.format(variant="1-2-4")),
    dict(model="dmphn-1-2-4-8", tag="gopro", folder="checkpoints/DMPHN_1_2_4_8",
         reproduces="the paper's DMPHN(1-2-4-8), GoPro 30.25 dB; the authors' released PNGs were written with other "
                    "weights (86% identical, README); " + _REPRODUCE.format(variant="1-2-4-8")),
    dict(model="stack-dmphn-2", tag="gopro", folder="checkpoints/SDNet2",
         reproduces="the authors' SDNet2_test.py outputs: 99.996% identical values with --round; "
                    + _REPRODUCE.format(variant="SDNet2")),
    dict(model="stack-dmphn-3", tag="gopro", folder="checkpoints/SDNet3",
         reproduces="the authors' SDNet3_test.py outputs: 99.996% identical values (stacks s1-s3; s4 unused); "
                    + _REPRODUCE.format(variant="SDNet3")),
    dict(model="stack-dmphn-4", tag="gopro", folder="checkpoints/SDNet4",
         reproduces="the paper's Stack(4)-DMPHN, GoPro 31.20 dB; the authors' SDNet4_test.py outputs: 99.997% "
                    "identical values; " + _REPRODUCE.format(variant="SDNet4")),
)
