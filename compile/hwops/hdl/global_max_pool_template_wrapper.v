// Generated from compile/hwops/hdl/global_max_pool_template_wrapper.v by compile/hwops/global_max_pool.py:
// node $TOP_MODULE_NAME$, our StreamingGlobalMaxPool in RTL (global_max_pool.sv), with AXI-stream ports named
// and padded to whole bytes as FINN's IP integration expects of every layer.
module $TOP_MODULE_NAME$ (
	//- Global Control ------------------
	(* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 ap_clk CLK" *)
	(* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF in0_V:out0_V, ASSOCIATED_RESET ap_rst_n" *)
	input	ap_clk,
	(* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
	input	ap_rst_n,

	//- AXI Stream - Input --------------
	output	in0_V_TREADY,
	input	in0_V_TVALID,
	input	[$IN_STREAM_BITS$-1:0]  in0_V_TDATA,

	//- AXI Stream - Output -------------
	input	out0_V_TREADY,
	output	out0_V_TVALID,
	output	[$OUT_STREAM_BITS$-1:0]  out0_V_TDATA
);

	wire [$PE$*$ELEM_BITS$-1:0]  odata;

	global_max_pool #(
		.PE($PE$),
		.ELEM_BITS($ELEM_BITS$),
		.SIGNED($SIGNED$),
		.FOLDS($FOLDS$),
		.POSITIONS($POSITIONS$)
	) impl (
		.clk(ap_clk),
		.rst_n(ap_rst_n),
		.in_tdata(in0_V_TDATA[$PE$*$ELEM_BITS$-1:0]),
		.in_tvalid(in0_V_TVALID),
		.in_tready(in0_V_TREADY),
		.out_tdata(odata),
		.out_tvalid(out0_V_TVALID),
		.out_tready(out0_V_TREADY)
	);

	assign	out0_V_TDATA = $OUT_TDATA$;  // zero-padded to whole bytes

endmodule
