# The reference's template ("How to add a custom library"), verbatim: a compatibility fixture.
def process(in_buffer, in_meta, options, events):
    """
    Applies a custom function to a video stream
    Parameters
    ------------
    in_buffer : array
    Input buffer as a numpy array
    in_meta : dictionary
    Input meta dictionary
    options : dictionary
    Options dictionary containing custom configurable options
    Returns
    -------
    out_buffer : object
    Output buffer object of the GstBuffer type. If None is returned
    here, the output frame will be empty
    out_meta : string
    Output meta string. The input metadata is moved over by the
    gstemcustom element so this should only contain the custom metadata
    """
    out_buffer = None
    out_meta = ''
    # Insert your code here
    return out_buffer, out_meta
def process_ip(io_buffer, in_meta, options, events):
    """
    Applies a custom function to a video stream in-place
    Parameters
    ------------
    io_buffer : array
    Input/Output buffer as a numpy array
    in_meta : dictionary
    Input/Output meta dictionary
    options : dictionary
    Options dictionary containing custom configurable options
    Returns
    -------
    out_meta : string
    Output meta string. The input metadata is moved over by the
    gstemcustom element so this should only contain the custom metadata
    """
    out_meta = ''
    # Insert your code here
    return out_meta
