// Elementwise sum of two AXI streams of integers (our ElementwiseAdd_rtl off Versal), PE lanes per beat.
//
// Written for this project: finn-plus 1.6.1 specialises an integer ElementwiseAdd (a residual add) to HLS
// on every part but Versal, so a network with residual adds (BacalhauNet) could not be verilated or built
// without Vitis HLS. Each output element is the sum of the two inputs' elements, each sign- or zero-
// extended to OUT_BITS. A beat leaves when both inputs have one: out_tvalid is the AND of the two tvalids,
// and each input is taken only together with the other (its tready needs the other's tvalid).
module elementwise_rtl #(
	int unsigned PE = 1,
	int unsigned LHS_BITS = 4,
	bit          LHS_SIGNED = 0,
	int unsigned RHS_BITS = 4,
	bit          RHS_SIGNED = 0,
	int unsigned OUT_BITS = 5
)(
	input	logic  clk,
	input	logic  rst_n,  // unused: no state

	input	logic [PE*LHS_BITS-1:0]  lhs_tdata,
	input	logic  lhs_tvalid,
	output	logic  lhs_tready,

	input	logic [PE*RHS_BITS-1:0]  rhs_tdata,
	input	logic  rhs_tvalid,
	output	logic  rhs_tready,

	output	logic [PE*OUT_BITS-1:0]  out_tdata,
	output	logic  out_tvalid,
	input	logic  out_tready
);
	function automatic logic signed [OUT_BITS:0] widen(input logic [31:0] v, input int unsigned bits, input bit sgn);
		logic signed [OUT_BITS:0]  r;
		r = '0;
		for (int b = 0; b <= OUT_BITS; b++)
			r[b] = b < bits ? v[b] : (sgn ? v[bits-1] : 1'b0);
		return r;
	endfunction

	always_comb begin
		for (int i = 0; i < PE; i++) begin
			automatic logic signed [OUT_BITS:0]  s = widen(32'(lhs_tdata[i*LHS_BITS +: LHS_BITS]), LHS_BITS, LHS_SIGNED)
			                                       + widen(32'(rhs_tdata[i*RHS_BITS +: RHS_BITS]), RHS_BITS, RHS_SIGNED);
			out_tdata[i*OUT_BITS +: OUT_BITS] = s[OUT_BITS-1:0];
		end
		out_tvalid = lhs_tvalid && rhs_tvalid;
		lhs_tready = out_tready && rhs_tvalid;
		rhs_tready = out_tready && lhs_tvalid;
	end
endmodule : elementwise_rtl
